"""Pure ingest logic: a raw MQTT message becomes a reading row, a device status, or a dead letter with a reason.

``classify`` is the per-message error boundary of both consumers (ingest and rules): it never raises, whatever
the topic or the bytes; an unexpected exception becomes a dead letter whose reason starts with ``internal:``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from devices import topics
from devices.telemetry import MAX_PAYLOAD_BYTES, DecodeError, check_skew, decode_native, decode_z2m
from devices.types import DeviceKind, Reading


@dataclass(frozen=True, slots=True)
class RawMessage:
    topic: str
    payload: bytes  # cut to just over MAX_PAYLOAD_BYTES on arrival when larger (``size`` has the real size)
    received_at: datetime
    retained: bool = False
    size: int = -1  # the payload's size as received; -1: len(payload)
    cut_key: bytes = b""  # when the payload was cut on arrival: the dead-letter key of the whole message

    @property
    def real_size(self) -> int:
        return self.size if self.size >= 0 else len(self.payload)


def message_key(topic: str, payload: bytes) -> bytes:
    """The dead-letter key of a message: same topic and bytes, same key (a redelivery is kept once)."""
    return hashlib.sha256(topic.encode("utf-8", "surrogatepass") + b"\0" + payload).digest()[:16]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_id: str
    kind: DeviceKind
    home_id: str | None
    room: str | None
    status: str  # registered | provisioned | revoked


@dataclass
class DeviceIndex:
    """The registry as ingest needs it, loaded from the database and refreshed now and then."""

    by_id: dict[str, DeviceInfo] = field(default_factory=dict)
    by_z2m: dict[tuple[str, str], str] = field(default_factory=dict)

    def lookup(self, device_id: str) -> DeviceInfo | None:
        return self.by_id.get(device_id)


@dataclass(frozen=True, slots=True)
class ReadingRow:
    reading: Reading
    home_id: str | None
    room: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StatusRow:
    device_id: str
    status: str  # online | offline
    at: datetime


DEAD_PAYLOAD_KEEP = 4096  # bytes of a rejected payload kept as they came; past that, its size and hash
DEAD_TOPIC_KEEP = 512  # characters of a rejected topic kept
DEAD_REASON_KEEP = 500  # characters of a reason


def _text(s: str, keep: int) -> str:
    """Text PostgreSQL can store (no NUL, no lone surrogate), at most ``keep`` characters."""
    s = s[:keep].replace("\x00", "\\0")
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True, slots=True)
class DeadRow:
    """A rejected message as it is kept: bounded in size, always storable, with the key of the whole message."""

    topic: str
    payload: bytes
    reason: str
    device_id: str | None
    received_at: datetime
    key: bytes  # same topic and bytes, same key: a redelivered bad message is kept once

    @classmethod
    def of(cls, msg: RawMessage, reason: str, device_id: str | None = None) -> DeadRow:
        key = msg.cut_key or message_key(msg.topic, msg.payload)
        payload = msg.payload
        if msg.real_size > DEAD_PAYLOAD_KEEP:
            payload_hash = hashlib.sha256(payload).hexdigest()
            reason = (
                f"{reason} [payload of {msg.real_size} bytes kept to {DEAD_PAYLOAD_KEEP}, sha256 of the "
                f"{len(payload)} bytes received {payload_hash}]"
            )
            payload = payload[:DEAD_PAYLOAD_KEEP]
        return cls(
            _text(msg.topic, DEAD_TOPIC_KEEP),
            payload,
            _text(reason, DEAD_REASON_KEEP + 120),
            _text(device_id, 64) if device_id else None,
            msg.received_at,
            key,
        )


@dataclass(frozen=True, slots=True)
class SkewLimits:
    past: timedelta = timedelta(days=7)
    future: timedelta = timedelta(minutes=5)


Outcome = ReadingRow | StatusRow | DeadRow
RETAINED_EVENT = "retained: an event published with the retain flag is not evaluated (cleared at the broker)"
RETAINED_CLEARED = (
    "retained: a retained event was cleared at the broker (this is the empty message that clears it)"
)


def classify(msg: RawMessage, index: DeviceIndex, *, now: datetime, skew: SkewLimits) -> Outcome:
    """Decide what one message is. Never raises: anything wrong becomes a DeadRow with the reason."""
    try:
        return _classify(msg, index, now=now, skew=skew)
    except Exception as exc:  # the error boundary: a bug here must cost one message, not the process
        return DeadRow.of(msg, f"internal: {type(exc).__name__}: {str(exc)[:200]}")


def _classify(msg: RawMessage, index: DeviceIndex, *, now: datetime, skew: SkewLimits) -> Outcome:
    try:
        route = topics.parse(msg.topic)
    except topics.TopicError as exc:
        return DeadRow.of(msg, f"topic: {exc}")
    if msg.real_size > MAX_PAYLOAD_BYTES:
        return DeadRow.of(
            msg, f"size: payload of {msg.real_size} bytes exceeds {MAX_PAYLOAD_BYTES}", route.device_id
        )
    device_id = route.device_id
    if route.gateway_id is not None:
        device_id = index.by_z2m.get((route.gateway_id, route.friendly_name or ""))
        if device_id is None:
            reason = (
                f"unknown device: no device bridged as {route.friendly_name!r} by gateway {route.gateway_id}"
            )
            return DeadRow.of(msg, reason)
    info = index.lookup(device_id) if device_id else None
    if info is None:
        return DeadRow.of(msg, f"unknown device: {device_id}", device_id)
    if info.status == "revoked":
        return DeadRow.of(msg, f"revoked device: {device_id}", device_id)
    if route.kind == "status":
        status = msg.payload[:64].decode(errors="replace").strip().strip('"').lower()
        if status not in ("online", "offline"):
            return DeadRow.of(msg, f"schema: status must be online|offline, got {status[:40]!r}", device_id)
        return StatusRow(info.device_id, status, msg.received_at)
    if msg.retained:
        # A retained event would be delivered again to every new subscription (a restarted lane, a new
        # worker) and raise the same SOS again; events are moments, not state. Ingest clears it at the broker.
        return DeadRow.of(msg, RETAINED_EVENT if msg.payload else RETAINED_CLEARED, info.device_id)
    try:
        if route.gateway_id is not None:
            reading = decode_z2m(info.device_id, info.kind, msg.payload, received_at=msg.received_at)
        else:
            reading = decode_native(info.device_id, msg.payload, kind_of_device=info.kind)
        check_skew(reading.ts, now - skew.past, now + skew.future)
    except DecodeError as exc:
        return DeadRow.of(msg, exc.reason, info.device_id)
    return ReadingRow(reading, info.home_id, info.room, msg.received_at)
