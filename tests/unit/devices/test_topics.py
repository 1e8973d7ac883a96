"""The topic contract: what parses to which route, and what is refused with which reason."""

from __future__ import annotations

import pytest

from devices import topics


def test_native_event_and_status_routes() -> None:
    assert topics.parse("eldercare/v1/devices/m-001/event") == topics.Route("event", device_id="m-001")
    assert topics.parse(topics.device_status("gw-9a")) == topics.Route("status", device_id="gw-9a")


def test_zigbee2mqtt_routes_name_the_gateway_and_friendly_name() -> None:
    route = topics.parse(topics.gateway_z2m("gw-001", "front_door"))
    assert route == topics.Route("event", gateway_id="gw-001", friendly_name="front_door")
    avail = topics.parse(topics.gateway_availability("gw-001", "front_door"))
    assert avail.kind == "status"
    assert avail.friendly_name == "front_door"


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("other/v1/devices/m-001/event", "not under eldercare/v1/"),
        ("eldercare/v1/devices/M 01/event", "malformed device id"),
        ("eldercare/v1/devices/m-001/cmd", "no such topic"),
        ("eldercare/v1/gateways/gw-001/z2m/bridge", "bridge"),
        ("eldercare/v1/gateways/gw-001/z2m/a/b/c", "no such topic"),
        ("eldercare/v1/devices/m-001/event/extra", "no such topic"),
    ],
)
def test_topics_outside_the_contract_are_refused_with_a_reason(topic: str, reason: str) -> None:
    with pytest.raises(topics.TopicError, match=reason):
        topics.parse(topic)


def test_ingest_filters_shared_and_not() -> None:
    plain = topics.ingest_filters()
    assert "eldercare/v1/devices/+/event" in plain
    assert "eldercare/v1/gateways/+/z2m/#" in plain
    assert all(f.startswith("$share/ingest/") for f in topics.ingest_filters("ingest"))
