"""Payload codecs: round trips, zigbee2mqtt's fields, and the reason given for every kind of bad payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devices.telemetry import DecodeError, check_skew, decode_native, decode_z2m, encode_native, encode_z2m
from devices.types import DeviceKind, Reading

T0 = datetime(2026, 11, 23, 8, 30, 0, 125000, tzinfo=UTC)


def test_native_round_trip_keeps_unknown_fields() -> None:
    reading = Reading("m-001", T0, 42, DeviceKind.MOTION, {"occupancy": True, "battery": 91, "vendor": "x"})
    assert decode_native("m-001", encode_native(reading), kind_of_device=DeviceKind.MOTION) == reading


def test_native_values_at_top_level_and_offsets_are_normalised_to_utc() -> None:
    body = {"ts": "2026-11-23T16:30:00.125+08:00", "seq": 7, "kind": "door", "contact": False}
    r = decode_native("d-001", json.dumps(body).encode(), kind_of_device=DeviceKind.DOOR)
    assert r.ts == T0
    assert r.values == {"contact": False}
    assert r.seq == 7


def test_z2m_uses_last_seen_and_a_stable_seq() -> None:
    reading = Reading("d-001", T0, 0, DeviceKind.DOOR, {"contact": True, "battery": 80, "linkquality": 120})
    payload = encode_z2m(reading)
    a = decode_z2m("d-001", DeviceKind.DOOR, payload, received_at=T0 + timedelta(seconds=3))
    b = decode_z2m("d-001", DeviceKind.DOOR, payload, received_at=T0 + timedelta(seconds=9))
    assert a.ts == T0
    assert a == b
    assert a.values == {"contact": True, "battery": 80, "linkquality": 120}
    no_clock = decode_z2m("d-001", DeviceKind.DOOR, b'{"contact": false}', received_at=T0)
    assert no_clock.ts == T0
    epoch_ms = decode_z2m("d-001", DeviceKind.DOOR, b'{"last_seen": 1795422600125}', received_at=T0)
    assert epoch_ms.ts == datetime.fromtimestamp(1795422600.125, UTC)


def _native(**over: object) -> bytes:
    body: dict[str, object] = {"ts": "2026-11-23T08:30:00Z", "seq": 1, "kind": "motion", "values": {}}
    body.update(over)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "json: not UTF-8"),
        (b"{not json", "json: unexpected character, expected a string key"),
        (b"[1, 2]", "json: expected an object, got list"),
        (b'{"ts": "2026-11-23T08:30:00Z", "seq": NaN, "kind": "motion"}', "json: unexpected character"),
        (b"x" * 70000, "exceeds"),
        (_native(seq=-1), "schema: seq must be an integer"),
        (_native(seq=True), "schema: seq must be an integer"),
        (_native(ts="yesterday"), "schema: ts 'yesterday' is not an RFC 3339"),
        (_native(ts="2026-11-23T08:30:00"), "has no UTC offset"),
        (_native(kind="door"), "does not match the device's kind 'motion'"),
        (_native(values=[1]), "values must be an object"),
        (_native(values={"occupancy": "yes"}), "schema: occupancy must be bool"),
        (_native(values={"battery": True}), "schema: battery must be a number"),
        (_native(values={"battery": 140}), "battery 140 outside 0..100"),
        (b'{"seq": 1, "kind": "motion"}', "missing field 'ts'"),
    ],
)
def test_bad_native_payloads_get_a_categorised_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_native("m-001", payload, kind_of_device=DeviceKind.MOTION)
    assert reason in info.value.reason


def test_bad_z2m_values_are_refused() -> None:
    with pytest.raises(DecodeError, match="temperature 900 outside"):
        decode_z2m("t-001", DeviceKind.TEMPERATURE, b'{"temperature": 900}', received_at=T0)


def test_clock_skew_is_refused_both_ways() -> None:
    check_skew(T0, T0 - timedelta(hours=1), T0 + timedelta(minutes=5))
    with pytest.raises(DecodeError, match=r"skew: .* before"):
        check_skew(T0 - timedelta(hours=2), T0 - timedelta(hours=1), T0)
    with pytest.raises(DecodeError, match=r"skew: .* future"):
        check_skew(T0 + timedelta(minutes=6), T0 - timedelta(hours=1), T0 + timedelta(minutes=5))
