"""The per-message boundary: whatever bytes or topic arrive, ``classify`` returns one outcome and never raises,
and whatever it accepts is something PostgreSQL stores (finite numbers, 64-bit integers, no NUL, bounded)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.telemetry import MAX_PAYLOAD_BYTES, MAX_STRING
from devices.types import DeviceKind
from monitor.ingest.pipeline import (
    DEAD_PAYLOAD_KEEP,
    RETAINED_EVENT,
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
        "sos-001": DeviceInfo("sos-001", DeviceKind.SOS_BUTTON, "h-001", "bedroom", "provisioned"),
        "d-001": DeviceInfo("d-001", DeviceKind.DOOR, "h-001", "entrance", "provisioned"),
    },
    by_z2m={("gw-001", "front_door"): "d-001"},
)
NATIVE = "eldercare/v1/devices/m-001/event"
Z2M = "eldercare/v1/gateways/gw-001/z2m/front_door"
TS = '"ts":"2026-11-23T08:59:00Z","seq":1,"kind":"motion"'


def _classify(topic: str, payload: bytes, *, retained: bool = False, size: int = -1) -> object:
    return classify(RawMessage(topic, payload, NOW, retained, size), INDEX, now=NOW, skew=SkewLimits())


def _storable(value: object, depth: int = 0) -> bool:
    """What PostgreSQL's JSONB and our columns accept."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, str):
        return (
            "\x00" not in value and len(value) <= MAX_STRING and value.encode("utf-8", "strict") is not None
        )
    if isinstance(value, dict):
        return all(_storable(k, depth) and _storable(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v, depth + 1) for v in value)
    return False


KILLERS = {
    "nested array 5,000 deep": b"[" * 5000 + b"]" * 5000,
    "nested object in values": ("{" + TS + ',"values":' + '{"a":' * 1500 + "1" + "}" * 1500 + "}").encode(),
    "seq of 5,000 digits": (
        '{"ts":"2026-11-23T08:59:00Z","seq":' + "9" * 5000 + ',"kind":"motion"}'
    ).encode(),
    "1e400": ("{" + TS + ',"values":{"temperature":1e400}}').encode(),
    "-1e400 in an unknown field": ("{" + TS + ',"values":{"x":-1e400}}').encode(),
    "NaN": ("{" + TS + ',"values":{"x":NaN}}').encode(),
    "integer above 64 bits": ("{" + TS + ',"values":{"x":' + str(2**64 + 1) + "}}").encode(),
    "integer of 2^63": ("{" + TS + ',"values":{"x":' + str(2**63) + "}}").encode(),
    "NUL in a string": ("{" + TS + ',"values":{"action":"so\\u0000s"}}').encode(),
    "NUL in a key": ("{" + TS + ',"values":{"a\\u0000":1}}').encode(),
    "lone surrogate": ("{" + TS + ',"values":{"action":"\\ud800"}}').encode(),
    "invalid UTF-8": b'{"ts":"2026-11-23T08:59:00Z","seq":1,"kind":"motion","x":"\xff\xfe"}',
    "ts in year 9999": b'{"ts":"9999-12-31T23:59:59Z","seq":1,"kind":"motion"}',
    "ts with an offset past year 1": b'{"ts":"0001-01-01T00:00:00+01:00","seq":1,"kind":"motion"}',
    "long string": ("{" + TS + ',"values":{"action":"' + "a" * 5000 + '"}}').encode(),
    "many keys": ("{" + TS + ',"values":{' + ",".join(f'"k{i}":1' for i in range(500)) + "}}").encode(),
}


@pytest.mark.parametrize("name", sorted(KILLERS))
def test_each_named_killer_is_a_dead_letter_with_a_reason(name: str) -> None:
    out = _classify(NATIVE, KILLERS[name])
    assert isinstance(out, DeadRow), name
    assert out.reason.split(":")[0] in {"json", "schema", "size"}, out.reason
    assert len(out.payload) <= DEAD_PAYLOAD_KEEP


def test_zigbee2mqtt_last_seen_1e300_is_a_dead_letter() -> None:
    out = _classify(Z2M, b'{"contact":true,"last_seen":1e300}')
    assert isinstance(out, DeadRow)
    assert "last_seen" in out.reason


def test_an_oversized_payload_is_refused_by_its_real_size_and_kept_cut_with_its_hash() -> None:
    payload = b"{" + b" " * (MAX_PAYLOAD_BYTES + 10) + b"}"
    out = _classify(NATIVE, payload[: MAX_PAYLOAD_BYTES + 1], size=256 * 1024)
    assert isinstance(out, DeadRow)
    assert out.reason.startswith("size: payload of 262144 bytes")
    assert "sha256" in out.reason
    assert len(out.payload) == DEAD_PAYLOAD_KEEP


def test_a_retained_event_is_not_evaluated_but_a_retained_status_is_kept() -> None:
    sos = b'{"ts":"2026-11-23T08:59:00Z","seq":1,"kind":"sos_button","values":{"action":"sos"}}'
    out = _classify("eldercare/v1/devices/sos-001/event", sos, retained=True)
    assert isinstance(out, DeadRow)
    assert out.reason == RETAINED_EVENT
    assert isinstance(_classify("eldercare/v1/devices/sos-001/event", sos), ReadingRow)
    assert isinstance(_classify("eldercare/v1/devices/sos-001/status", b"online", retained=True), StatusRow)


def test_a_dead_letter_is_always_storable_text() -> None:
    out = DeadRow.of(RawMessage("eldercare/v1/\x00/\ud800", b"x", NOW), "reason with \x00 and \udc80" * 100)
    for text in (out.topic, out.reason):
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogate
    assert len(out.reason) < 1000


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    topic=st.sampled_from([NATIVE, Z2M, "eldercare/v1/devices/m-001/status"]) | st.text(max_size=80),
    payload=st.binary(max_size=300),
    retained=st.booleans(),
)
def test_any_bytes_on_any_topic_give_one_outcome_and_never_raise(
    topic: str, payload: bytes, retained: bool
) -> None:
    out = _classify(topic, payload, retained=retained)
    assert isinstance(out, ReadingRow | StatusRow | DeadRow)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    envelope=st.fixed_dictionaries(
        {},
        optional={
            "ts": st.sampled_from(["2026-11-23T08:59:00Z", "2026-11-23T08:59:00", "x"]) | json_values,
            "seq": st.integers() | json_values,
            "kind": st.sampled_from(["motion", "door"]) | json_values,
            "values": json_values,
            "temperature": json_values,
            "last_seen": st.floats() | st.integers() | json_values,
        },
    ),
    topic=st.sampled_from([NATIVE, Z2M]),
)
def test_whatever_json_a_device_sends_what_is_accepted_is_storable(
    envelope: dict[str, object], topic: str
) -> None:
    payload = json.dumps(envelope, allow_nan=True).encode("utf-8", "surrogatepass")
    out = _classify(topic, payload)
    assert isinstance(out, ReadingRow | DeadRow)
    if isinstance(out, ReadingRow):
        assert _storable(dict(out.reading.values))
        assert 0 <= out.reading.seq < 2**63
