"""classify(): every message becomes exactly one of reading, status or dead letter, with the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.telemetry import encode_native, encode_z2m
from devices.types import DeviceKind, Reading
from monitor.ingest.pipeline import (
    DeadRow,
    DeviceIndex,
    DeviceInfo,
    RawMessage,
    ReadingRow,
    SkewLimits,
    StatusRow,
    classify,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
INDEX = DeviceIndex(
    by_id={
        "m-001": DeviceInfo("m-001", DeviceKind.MOTION, "h-001", "bathroom", "provisioned"),
        "d-001": DeviceInfo("d-001", DeviceKind.DOOR, "h-001", "entrance", "provisioned"),
        "m-009": DeviceInfo("m-009", DeviceKind.MOTION, "h-009", "kitchen", "revoked"),
    },
    by_z2m={("gw-001", "front_door"): "d-001"},
)


def _classify(topic: str, payload: bytes) -> object:
    return classify(RawMessage(topic, payload, NOW), INDEX, now=NOW, skew=SkewLimits())


def test_native_reading_carries_home_and_room() -> None:
    payload = encode_native(Reading("m-001", NOW, 5, DeviceKind.MOTION, {"occupancy": True}))
    out = _classify("eldercare/v1/devices/m-001/event", payload)
    assert isinstance(out, ReadingRow)
    assert (out.home_id, out.room, out.reading.seq) == ("h-001", "bathroom", 5)


def test_z2m_reading_is_resolved_through_the_gateway() -> None:
    payload = encode_z2m(Reading("d-001", NOW, 0, DeviceKind.DOOR, {"contact": False}))
    out = _classify("eldercare/v1/gateways/gw-001/z2m/front_door", payload)
    assert isinstance(out, ReadingRow)
    assert out.reading.device_id == "d-001"
    assert out.reading.values == {"contact": False}


def test_status_messages() -> None:
    assert _classify("eldercare/v1/devices/m-001/status", b"offline") == StatusRow("m-001", "offline", NOW)
    bad = _classify("eldercare/v1/devices/m-001/status", b"sleepy")
    assert isinstance(bad, DeadRow)
    assert "online|offline" in bad.reason


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("eldercare/v1/devices/m-404/event", b"{}", "unknown device: m-404"),
        ("eldercare/v1/gateways/gw-001/z2m/kitchen_pir", b"{}", "no device bridged as 'kitchen_pir'"),
        ("eldercare/v1/devices/m-009/event", b"{}", "revoked device: m-009"),
        ("somewhere/else", b"{}", "topic: not under eldercare/v1/"),
        ("eldercare/v1/devices/m-001/event", b"{oops", "json:"),
    ],
)
def test_rejections_keep_the_reason(topic: str, payload: bytes, reason: str) -> None:
    out = _classify(topic, payload)
    assert isinstance(out, DeadRow)
    assert reason in out.reason
    assert out.payload == payload


def test_readings_outside_the_skew_window_are_dead_lettered() -> None:
    old = encode_native(Reading("m-001", NOW - timedelta(days=8), 1, DeviceKind.MOTION, {}))
    out = _classify("eldercare/v1/devices/m-001/event", old)
    assert isinstance(out, DeadRow)
    assert out.reason.startswith("skew:")


def test_dead_letter_key_is_stable_per_topic_and_payload() -> None:
    a = DeadRow.of(RawMessage("t", b"x", NOW), "r")
    assert a.key == DeadRow.of(RawMessage("t", b"x", NOW + timedelta(1)), "other").key
    assert a.key != DeadRow.of(RawMessage("t", b"y", NOW), "r").key
