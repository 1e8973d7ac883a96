"""Relearn each resident's baseline from their own readings and hourly rollups (run by ``eldercare maintain``).

The rules read ``resident_baseline`` when they load a home; this job keeps it current: a resident whose baseline
is missing or older than ``STALE_AFTER`` is relearned from the last ``HISTORY`` of readings, oldest first and a
bounded number per pass, so 20,000 homes are spread over the day instead of loading the database at once.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from devices.types import DeviceKind, Reading
from monitor.rules.baseline import Baseline, Rollup, build_baseline, episodes_from_readings
from monitor.runner import homes as home_store

log = logging.getLogger("eldercare.maintain")

HISTORY = timedelta(days=28)
ROLLUP_HISTORY = timedelta(days=35)
STALE_AFTER = timedelta(hours=20)


@dataclass(frozen=True)
class RelearnResult:
    residents: int
    readings: int
    still_due: int


def due(
    conn: psycopg.Connection, *, now: datetime, limit: int, home_ids: Collection[str] | None = None
) -> tuple[list[str], int]:
    """Homes (of ``home_ids``, default all) whose resident has no baseline or one built before
    ``now - STALE_AFTER``, oldest first.

    Returns:
        Up to ``limit`` home ids, and how many homes are due in all.
    """
    rows = conn.execute(
        "SELECT r.home_id FROM resident r LEFT JOIN resident_baseline b ON b.resident_id = r.id "
        "WHERE (b.built_at IS NULL OR b.built_at < %s) AND (%s::text[] IS NULL OR r.home_id = ANY(%s::text[])) "
        "ORDER BY b.built_at NULLS FIRST, r.home_id",
        (
            now - STALE_AFTER,
            None if home_ids is None else list(home_ids),
            None if home_ids is None else list(home_ids),
        ),
    ).fetchall()
    return [r[0] for r in rows[:limit]], len(rows)


def home_readings(
    conn: psycopg.Connection, home_id: str, *, since: datetime, until: datetime
) -> list[Reading]:
    rows = conn.execute(
        "SELECT device_id, time, seq, kind, data FROM reading WHERE home_id = %s AND time >= %s AND time < %s "
        "ORDER BY time",
        (home_id, since, until),
    ).fetchall()
    return [Reading(device_id, ts, seq, DeviceKind(kind), data) for device_id, ts, seq, kind, data in rows]


def home_rollups(conn: psycopg.Connection, home_id: str, *, since: datetime, until: datetime) -> list[Rollup]:
    rows = conn.execute(
        "SELECT hour, room, motion_events FROM activity_hourly WHERE home_id = %s AND hour >= %s AND hour < %s",
        (home_id, since, until),
    ).fetchall()
    return [(hour, room, int(events)) for hour, room, events in rows]


def relearn(
    conn: psycopg.Connection, *, now: datetime, limit: int = 200, home_ids: Collection[str] | None = None
) -> RelearnResult:
    """Relearn and store the baselines of up to ``limit`` due residents (of ``home_ids``, default all), one
    transaction per resident."""
    home_ids, total = due(conn, now=now, limit=limit, home_ids=home_ids)
    conn.commit()
    if not home_ids:
        return RelearnResult(0, 0, 0)
    homes, _ = home_store.load(conn)
    done = readings_used = 0
    for home_id in home_ids:
        rules = homes.get(home_id)
        if rules is None or rules.ctx.resident_id is None:
            continue
        readings = home_readings(conn, home_id, since=now - HISTORY, until=now)
        rollups = home_rollups(conn, home_id, since=now - ROLLUP_HISTORY, until=now)
        episodes = episodes_from_readings(readings, rules.ctx, night=rules.settings.night)
        base: Baseline = build_baseline(episodes=episodes, rollups=rollups, tz=rules.ctx.tz, now=now)
        with conn.transaction():
            conn.execute(
                "INSERT INTO resident_baseline (resident_id, baseline, built_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (resident_id) DO UPDATE SET baseline = excluded.baseline, built_at = excluded.built_at",
                (rules.ctx.resident_id, base.to_json(), now),
            )
        done += 1
        readings_used += len(readings)
    result = RelearnResult(done, readings_used, max(0, total - done))
    log.info("baselines: %s", result)
    return result
