"""Writing imported history: readings by COPY (idempotent), bad lines dead-lettered, rollups, the baseline.

This is not the live path: no broker, no skew window (a reading of any age is stored), no rules run on the
readings. What the rules learn from them is the resident's baseline, relearned here at the end of the
imported span, as ``eldercare maintain`` would have learned it had the platform been watching then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from devices.types import DeviceKind
from monitor.baselines import HISTORY, ROLLUP_HISTORY, home_readings, home_rollups
from monitor.history.parse import Bad, Parsed, Row
from monitor.ingest.pipeline import DEAD_PAYLOAD_KEEP, DeadRow, ReadingRow, message_key
from monitor.ingest.store import prepare, write_batch
from monitor.maintenance.jobs import rollup
from monitor.rules.baseline import build_baseline, episodes_from_readings
from monitor.runner import homes as home_store

BATCH = 5_000


@dataclass
class ImportResult:
    """What one import did; ``first``/``last`` span the readings read (stored or already there)."""

    read: int = 0
    stored: int = 0
    duplicates: int = 0
    bad: int = 0
    dead_lettered: int = 0
    homes: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    issues: list[str] = field(default_factory=list)  # the first bad lines, "line N: reason"

    def as_dict(self) -> dict[str, object]:
        return {
            "read": self.read, "stored": self.stored, "duplicates": self.duplicates, "bad": self.bad,
            "dead_lettered": self.dead_lettered, "homes": sorted(self.homes),
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None, "issues": self.issues,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a registered device is: its home and room (the reading table's denormalised columns)."""

    home_id: str | None
    room: str | None


def registered(
    conn: psycopg.Connection,
) -> tuple[dict[str, DeviceKind], dict[str, tuple[str, DeviceKind]], dict[str, Placement]]:
    """Registered devices: id -> kind, zigbee2mqtt friendly name -> (id, kind), id -> placement."""
    kinds: dict[str, DeviceKind] = {}
    by_name: dict[str, tuple[str, DeviceKind]] = {}
    where: dict[str, Placement] = {}
    for device_id, kind, home_id, room, friendly in conn.execute(
        "SELECT id, kind, home_id, room, z2m_friendly_name FROM device WHERE status <> 'revoked'"
    ).fetchall():
        try:
            dk = DeviceKind(kind)
        except ValueError:
            continue
        kinds[device_id], where[device_id] = dk, Placement(home_id, room)
        if friendly:
            by_name[friendly] = (device_id, dk)
    return kinds, by_name, where


def _dead(source: str, bad: Bad, at: datetime) -> DeadRow:
    topic = f"history:{source}"[:512]
    payload = bad.text.encode("utf-8", "backslashreplace")[:DEAD_PAYLOAD_KEEP]
    key = message_key(topic, f"{bad.line_no}\0".encode() + payload)  # the same line twice is kept once
    return DeadRow(topic, payload, f"history import line {bad.line_no}: {bad.reason}"[:500], None, at, key)


def import_history(
    conn: psycopg.Connection,
    parsed: Iterable[Parsed],
    *,
    source: str,
    where: Mapping[str, Placement],
    now: datetime,
    on_progress: Callable[[int], None] = lambda _n: None,
    keep_issues: int = 20,
) -> ImportResult:
    """Store parsed rows in batches (COPY through a staging table; a row already stored is skipped) and
    dead-letter the bad lines (topic ``history:SOURCE``, the reason with the line number).

    Device health is stamped with the readings' own times (``received_at`` = reading time), so old history
    never makes a device look online now.
    """
    prepare(conn)
    out = ImportResult()
    readings: list[ReadingRow] = []
    dead: list[DeadRow] = []

    def flush() -> None:
        batch = write_batch(conn, readings=readings, dead=dead, statuses=[])
        out.stored += batch.stored
        out.duplicates += batch.duplicates
        out.dead_lettered += batch.dead_lettered
        on_progress(len(readings) + len(dead))
        readings.clear()
        dead.clear()

    for item in parsed:
        if isinstance(item, Row):
            r, place = item.reading, where.get(item.reading.device_id, Placement(None, None))
            readings.append(ReadingRow(r, place.home_id, place.room, r.ts))
            out.read += 1
            out.first = r.ts if out.first is None else min(out.first, r.ts)
            out.last = r.ts if out.last is None else max(out.last, r.ts)
            if place.home_id:
                out.homes.add(place.home_id)
        else:
            out.bad += 1
            dead.append(_dead(source, item, now))
            if len(out.issues) < keep_issues:
                out.issues.append(str(item))
        if len(readings) + len(dead) >= BATCH:
            flush()
    flush()
    return out


def relearn_home(conn: psycopg.Connection, home_id: str, *, at: datetime) -> dict[str, float] | None:
    """Roll the home's history up by hour and relearn its resident's baseline as of ``at`` (from the
    ``HISTORY`` before it), stored with ``built_at = at``. None when the home has no resident.

    Returns:
        ``days_of_data`` and the number of readings learned from.
    """
    rollup(conn, since=at - ROLLUP_HISTORY, until=at)
    homes, _ = home_store.load(conn)
    rules = homes.get(home_id)
    if rules is None or rules.ctx.resident_id is None:
        return None
    readings = home_readings(conn, home_id, since=at - HISTORY, until=at)
    rollups = home_rollups(conn, home_id, since=at - ROLLUP_HISTORY, until=at)
    episodes = episodes_from_readings(readings, rules.ctx, night=rules.settings.night)
    base = build_baseline(episodes=episodes, rollups=rollups, tz=rules.ctx.tz, now=at)
    with conn.transaction():
        conn.execute(
            "INSERT INTO resident_baseline (resident_id, baseline, built_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (resident_id) DO UPDATE SET baseline = excluded.baseline, built_at = excluded.built_at",
            (rules.ctx.resident_id, base.to_json(), at),
        )
    return {"days_of_data": base.days_of_data, "readings": float(len(readings))}


def learn_end(result: ImportResult, *, wall: datetime) -> datetime | None:
    """When to learn the baseline as of: the end of the imported span (never past the wall clock)."""
    if result.last is None:
        return None
    return min(result.last + timedelta(seconds=1), wall)
