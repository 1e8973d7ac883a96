"""Device health per home: last seen, online/offline (the device's will, or silence past its kind's timeout), battery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import psycopg

from devices.types import DeviceKind

# Minutes of silence after which a device counts as offline. Devices that must never be silently dead
# (gateways, smoke, gas, SOS, fall detectors) send heartbeats and time out sooner.
SILENCE_TIMEOUT_MIN: dict[DeviceKind, float] = {
    DeviceKind.GATEWAY: 15.0,
    DeviceKind.SMOKE: 90.0,
    DeviceKind.GAS: 90.0,
    DeviceKind.SOS_BUTTON: 120.0,
    DeviceKind.FALL_DETECTOR: 120.0,
}
OTHER_TIMEOUT_MIN = 150.0
LOW_BATTERY_PCT = 20.0

State = Literal["online", "offline", "never_seen", "revoked"]


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    device_id: str
    kind: DeviceKind
    room: str | None
    state: State
    reason: str
    last_seen: datetime | None
    battery: float | None
    battery_low: bool


def silence_timeout(kind: DeviceKind) -> timedelta:
    return timedelta(minutes=SILENCE_TIMEOUT_MIN.get(kind, OTHER_TIMEOUT_MIN))


def assess(
    *,
    kind: DeviceKind,
    registry_status: str,
    last_seen: datetime | None,
    reported: str | None,
    reported_at: datetime | None,
    now: datetime,
) -> tuple[State, str]:
    """The device's state and why. A retained ``offline`` (its will) wins until it is heard from again."""
    if registry_status == "revoked":
        return "revoked", "credentials revoked"
    if last_seen is None:
        return "never_seen", "no message yet"
    if reported == "offline" and reported_at is not None and reported_at >= last_seen:
        return "offline", f"device reported offline at {reported_at.isoformat(timespec='seconds')}"
    silent = now - last_seen
    if silent > silence_timeout(kind):
        return (
            "offline",
            f"silent for {int(silent.total_seconds() // 60)} min (timeout {silence_timeout(kind)})",
        )
    return "online", "heard from recently"


def home_health(conn: psycopg.Connection, *, home_id: str, now: datetime) -> list[DeviceHealth]:
    """Every device of a home with its current health (also those never heard from)."""
    rows = conn.execute(
        """SELECT d.id, d.kind, d.room, d.status, h.last_seen, h.reported_status, h.reported_status_at,
                  h.battery, h.battery_low
           FROM device d LEFT JOIN device_health h ON h.device_id = d.id
           WHERE d.home_id = %s ORDER BY d.id""",
        (home_id,),
    ).fetchall()
    out = []
    for dev_id, kind, room, status, seen, reported, reported_at, battery, low in rows:
        k = DeviceKind(kind)
        state, reason = assess(
            kind=k,
            registry_status=status,
            last_seen=seen,
            reported=reported,
            reported_at=reported_at,
            now=now,
        )
        is_low = bool(low) or (battery is not None and battery < LOW_BATTERY_PCT)
        out.append(DeviceHealth(dev_id, k, room, state, reason, seen, battery, is_low))
    return out
