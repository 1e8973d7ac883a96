"""Payload codecs: our native JSON and zigbee2mqtt's, both decoded to a validated :class:`Reading`.

Every failure is a :class:`DecodeError` whose ``reason`` starts with its category (``json:``, ``schema:``,
``skew:``) so dead letters can be counted by cause.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from devices.errors import ValidationFailed
from devices.types import METRIC_TYPES, DeviceKind, Reading

# What the store accepts, checked here so that nothing the boundary lets through can fail in PostgreSQL:
# JSONB refuses NaN/Infinity, "\u0000" and lone surrogates; columns hold 64-bit integers; a device message
# is a flat object of a few fields, so deep nesting, long strings or many keys are firmware bugs (or worse).
MAX_PAYLOAD_BYTES = 16 * 1024
MAX_SEQ = 2**63 - 1
MIN_INT = -(2**63)
MAX_DEPTH = 8  # nesting of objects/arrays inside a payload (the envelope is depth 1)
MAX_KEYS = 64  # fields in any one object
MAX_STRING = 1024  # characters in any string (keys included)
TS_MIN = datetime(2000, 1, 1, tzinfo=UTC)  # a sane window for any timestamp, before the skew check
TS_MAX = datetime(2100, 1, 1, tzinfo=UTC)
# orjson reads an integer beyond 64 bits as a float, silently changing it: find such tokens in the bytes.
_LONG_INT = re.compile(rb"(?<![\w.])-?\d{19,}(?![\d.eE])")
_RANGES: dict[str, tuple[float, float]] = {
    "battery": (0, 100),
    "humidity": (0, 100),
    "temperature": (-60, 120),
    "water_total_l": (0, 1e12),
    "energy_total_wh": (0, 1e15),
    "power_w": (0, 1e6),
    "linkquality": (0, 255),
}
_ENVELOPE = ("ts", "seq", "kind", "values")


class DecodeError(ValidationFailed):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _check_scalar(value: object, path: str) -> None:
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise DecodeError(f"schema: {path} is a string of {len(value)} characters (at most {MAX_STRING})")
        if "\x00" in value:
            raise DecodeError(f"schema: {path} contains a NUL character")
    elif isinstance(value, int) and not isinstance(value, bool):
        if not MIN_INT <= value <= MAX_SEQ:
            raise DecodeError(f"schema: {path} is an integer outside 64 bits")
    elif isinstance(value, float) and not math.isfinite(value):
        raise DecodeError(f"schema: {path} is not a finite number")


def _check_tree(value: object, path: str, depth: int) -> None:
    """Refuse what PostgreSQL's JSONB or our columns would refuse, and shapes no device sends."""
    if not isinstance(value, dict | list):
        _check_scalar(value, path)
        return
    if depth > MAX_DEPTH:
        raise DecodeError(f"schema: {path} nested deeper than {MAX_DEPTH} levels")
    if len(value) > MAX_KEYS:
        raise DecodeError(f"schema: {path} has {len(value)} entries (at most {MAX_KEYS})")
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(key, str):
            _check_scalar(key, f"a key in {path}")
        _check_tree(item, f"{path}.{str(key)[:30]}", depth + 1)


def _load_object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError(f"json: payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"json: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        # orjson refuses invalid UTF-8, lone surrogates, NaN/Infinity and nesting past 1024 without
        # recursing in Python (the standard library raises RecursionError on a deep array).
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"json: {str(exc)[:160]}") from None
    if not isinstance(obj, dict):
        raise DecodeError(f"json: expected an object, got {type(obj).__name__}")
    _check_tree(obj, "payload", 1)
    for m in _LONG_INT.finditer(payload):
        token = m.group()
        if len(token) > 21 or not MIN_INT <= int(token) <= MAX_SEQ:
            raise DecodeError(f"schema: the integer {token[:24].decode()}... is outside 64 bits")
    return obj


def parse_ts(raw: object, field: str = "ts") -> datetime:
    """An RFC 3339 timestamp with an offset (``Z`` or ``+08:00``), returned in UTC."""
    if not isinstance(raw, str):
        raise DecodeError(f"schema: {field} must be an RFC 3339 string, got {type(raw).__name__}")
    try:
        ts = datetime.fromisoformat(raw)
        if ts.tzinfo is None:
            raise DecodeError(f"schema: {field} {raw[:40]!r} has no UTC offset")
        ts = ts.astimezone(UTC)
    except (ValueError, OverflowError):
        raise DecodeError(f"schema: {field} {raw[:40]!r} is not an RFC 3339 timestamp") from None
    return _in_window(ts, field)


def _in_window(ts: datetime, field: str) -> datetime:
    if not TS_MIN <= ts < TS_MAX:
        raise DecodeError(f"schema: {field} {ts.isoformat()} is outside {TS_MIN.year}..{TS_MAX.year}")
    return ts


def check_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Type- and range-check the known metrics; unknown fields are kept as they are."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        expected = METRIC_TYPES.get(name)
        if expected is not None:
            numeric = expected is not bool and expected is not str
            if not isinstance(value, expected) or (numeric and isinstance(value, bool)):
                want = "a number" if numeric else expected.__name__  # type: ignore[union-attr]
                raise DecodeError(f"schema: {name} must be {want}, got {json.dumps(value)[:40]}")
            low, high = _RANGES.get(name, (-math.inf, math.inf))
            if numeric and not low <= float(value) <= high:  # type: ignore[arg-type]
                raise DecodeError(f"schema: {name} {value} outside {low:g}..{high:g}")
        out[name] = value
    return out


def decode_native(device_id: str, payload: bytes, *, kind_of_device: DeviceKind) -> Reading:
    """Decode ``{"ts": ..., "seq": n, "kind": ..., "values": {...}}`` (values may also sit at top level)."""
    obj = _load_object(payload)
    for name in ("ts", "seq", "kind"):
        if name not in obj:
            raise DecodeError(f"schema: missing field {name!r}")
    seq = obj["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        raise DecodeError(f"schema: seq must be an integer 0..2^63-1, got {json.dumps(seq)[:40]}")
    if obj["kind"] != kind_of_device.value:
        raise DecodeError(
            f"schema: kind {str(obj['kind'])[:30]!r} does not match the device's kind {kind_of_device.value!r}"
        )
    raw_values = obj.get("values", {k: v for k, v in obj.items() if k not in _ENVELOPE})
    if not isinstance(raw_values, dict):
        raise DecodeError("schema: values must be an object")
    return Reading(device_id, parse_ts(obj["ts"]), seq, kind_of_device, check_values(raw_values))


def _z2m_time(obj: dict[str, Any], received_at: datetime) -> datetime:
    last_seen = obj.pop("last_seen", None)
    if last_seen is None:
        return received_at
    if isinstance(last_seen, int | float) and not isinstance(last_seen, bool):  # epoch milliseconds
        low, high = TS_MIN.timestamp() * 1000, TS_MAX.timestamp() * 1000
        if not low <= last_seen < high:  # also keeps datetime.fromtimestamp from overflowing
            raise DecodeError(f"schema: last_seen {last_seen:g} ms is outside {TS_MIN.year}..{TS_MAX.year}")
        return datetime.fromtimestamp(last_seen / 1000, UTC)
    return parse_ts(last_seen, "last_seen")


def decode_z2m(device_id: str, kind: DeviceKind, payload: bytes, *, received_at: datetime) -> Reading:
    """Decode a zigbee2mqtt device message (its own field names are ours already).

    zigbee2mqtt sends no sequence number: ``seq`` is a stable hash of the payload, and ``ts`` is its
    ``last_seen`` when the bridge is configured to send it (else the time we received it), so a gateway
    replaying the same message is stored once.
    """
    obj = _load_object(payload)
    ts = _z2m_time(obj, received_at)
    seq = int.from_bytes(hashlib.sha256(payload).digest()[:8], "big") & MAX_SEQ
    return Reading(device_id, ts, seq, kind, check_values(obj))


def check_skew(ts: datetime, earliest: datetime, latest: datetime) -> None:
    """Refuse a timestamp too far in the past or the future (a device with a wrong clock)."""
    if ts < earliest:
        raise DecodeError(
            f"skew: ts {ts.isoformat()} is before the accepted window (from {earliest.isoformat()})"
        )
    if ts > latest:
        raise DecodeError(f"skew: ts {ts.isoformat()} is in the future (accepted up to {latest.isoformat()})")


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_native(reading: Reading) -> bytes:
    body = {
        "ts": format_ts(reading.ts),
        "seq": reading.seq,
        "kind": reading.kind.value,
        "values": dict(reading.values),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def encode_z2m(reading: Reading) -> bytes:
    """What a zigbee2mqtt bridge with ``last_seen: ISO_8601`` would publish for this reading."""
    return json.dumps({**reading.values, "last_seen": format_ts(reading.ts)}, separators=(",", ":")).encode()
