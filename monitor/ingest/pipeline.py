"""Pure ingest logic: a raw MQTT message becomes a reading row, a device status, or a dead letter with a reason."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from devices import topics
from devices.telemetry import DecodeError, check_skew, decode_native, decode_z2m
from devices.types import DeviceKind, Reading


@dataclass(frozen=True, slots=True)
class RawMessage:
    topic: str
    payload: bytes
    received_at: datetime
    retained: bool = False


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


@dataclass(frozen=True, slots=True)
class DeadRow:
    topic: str
    payload: bytes
    reason: str
    device_id: str | None
    received_at: datetime

    @property
    def key(self) -> bytes:
        """Same topic and bytes, same key: a redelivered bad message is kept once."""
        return hashlib.sha256(self.topic.encode() + b"\0" + self.payload).digest()[:16]


@dataclass(frozen=True, slots=True)
class SkewLimits:
    past: timedelta = timedelta(days=7)
    future: timedelta = timedelta(minutes=5)


Outcome = ReadingRow | StatusRow | DeadRow


def classify(msg: RawMessage, index: DeviceIndex, *, now: datetime, skew: SkewLimits) -> Outcome:
    """Decide what one message is. Never raises: anything wrong becomes a DeadRow with the reason."""
    try:
        route = topics.parse(msg.topic)
    except topics.TopicError as exc:
        return DeadRow(msg.topic, msg.payload, f"topic: {exc}", None, msg.received_at)
    device_id = route.device_id
    if route.gateway_id is not None:
        device_id = index.by_z2m.get((route.gateway_id, route.friendly_name or ""))
        if device_id is None:
            reason = (
                f"unknown device: no device bridged as {route.friendly_name!r} by gateway {route.gateway_id}"
            )
            return DeadRow(msg.topic, msg.payload, reason, None, msg.received_at)
    info = index.lookup(device_id) if device_id else None
    if info is None:
        return DeadRow(msg.topic, msg.payload, f"unknown device: {device_id}", device_id, msg.received_at)
    if info.status == "revoked":
        return DeadRow(msg.topic, msg.payload, f"revoked device: {device_id}", device_id, msg.received_at)
    if route.kind == "status":
        status = msg.payload.decode(errors="replace").strip().strip('"').lower()
        if status not in ("online", "offline"):
            return DeadRow(
                msg.topic,
                msg.payload,
                f"schema: status must be online|offline, got {status[:40]!r}",
                device_id,
                msg.received_at,
            )
        return StatusRow(info.device_id, status, msg.received_at)
    try:
        if route.gateway_id is not None:
            reading = decode_z2m(info.device_id, info.kind, msg.payload, received_at=msg.received_at)
        else:
            reading = decode_native(info.device_id, msg.payload, kind_of_device=info.kind)
        check_skew(reading.ts, now - skew.past, now + skew.future)
    except DecodeError as exc:
        return DeadRow(msg.topic, msg.payload, exc.reason, info.device_id, msg.received_at)
    return ReadingRow(reading, info.home_id, info.room, msg.received_at)
