"""The maintenance jobs: retention, the hourly activity rollup, the residents' baselines and dead letters.

The Apache-2 TimescaleDB build has no background policies or continuous aggregates, so ``eldercare maintain``
runs these on a timer. With the community licence, retention is delegated to Timescale's own policy.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from monitor.baselines import relearn
from monitor.maintenance.dead_letters import purge_dead_letters

log = logging.getLogger("eldercare.maintain")

DEAD_LETTER_KEEP = timedelta(days=30)

ROLLUP_SQL = """
INSERT INTO activity_hourly (home_id, room, hour, events, motion_events, water_l)
SELECT home_id, coalesce(room, 'other'), time_bucket('1 hour', time) AS hour,
       count(*),
       count(*) FILTER (WHERE (kind IN ('motion', 'bed', 'chair') AND data->>'occupancy' = 'true')
                          OR (kind = 'door' AND data ? 'contact')),
       coalesce(max((data->>'water_total_l')::double precision)
                - min((data->>'water_total_l')::double precision), 0)
FROM reading
WHERE time >= %(since)s AND time < %(until)s AND home_id IS NOT NULL AND NOT (data ? 'heartbeat' AND data->>'heartbeat' = 'true')
GROUP BY 1, 2, 3
ON CONFLICT (home_id, room, hour) DO UPDATE
  SET events = EXCLUDED.events, motion_events = EXCLUDED.motion_events, water_l = EXCLUDED.water_l
"""


@dataclass(frozen=True)
class MaintenanceResult:
    rollup_rows: int
    chunks_dropped: int
    licence: str
    baselines_relearned: int = 0
    baselines_due: int = 0
    dead_letters_deleted: int = 0


def licence(conn: psycopg.Connection) -> str:
    row = conn.execute("SHOW timescaledb.license").fetchone()
    return str(row[0]) if row else "unknown"


def rollup(conn: psycopg.Connection, *, since: datetime, until: datetime) -> int:
    """Recompute hourly per-home, per-room activity for whole hours in [since, until). Idempotent."""
    start = since.replace(minute=0, second=0, microsecond=0)
    with conn.transaction():
        cur = conn.execute(ROLLUP_SQL, {"since": start, "until": until})
        return cur.rowcount


def apply_retention(conn: psycopg.Connection, *, keep: timedelta, now: datetime) -> int:
    """Drop reading chunks entirely older than ``keep``; with the community licence use Timescale's policy."""
    if licence(conn) == "timescale":
        conn.execute("SELECT add_retention_policy('reading', %s, if_not_exists => true)", (keep,))
        conn.commit()
        return 0
    with conn.transaction():
        rows = conn.execute(
            "SELECT drop_chunks('reading', older_than => %s::timestamptz)", (now - keep,)
        ).fetchall()
    return len(rows)


def run_once(
    conn: psycopg.Connection,
    *,
    keep: timedelta,
    now: datetime,
    rollup_window: timedelta,
    baselines: int = 200,
    dead_letter_keep: timedelta = DEAD_LETTER_KEEP,
) -> MaintenanceResult:
    """One pass: rollup of the last ``rollup_window``, retention of readings (``keep``) and dead letters
    (``dead_letter_keep``), then up to ``baselines`` residents relearned."""
    rolled = rollup(conn, since=now - rollup_window, until=now)
    dropped = apply_retention(conn, keep=keep, now=now)
    purged = purge_dead_letters(conn, before=now - dead_letter_keep)
    learned = relearn(conn, now=now, limit=baselines)
    result = MaintenanceResult(
        rollup_rows=rolled,
        chunks_dropped=dropped,
        licence=licence(conn),
        baselines_relearned=learned.residents,
        baselines_due=learned.still_due,
        dead_letters_deleted=purged,
    )
    with conn.transaction():
        conn.execute(
            "INSERT INTO maintenance_run (job, ran_at, detail) VALUES ('maintain', %s, %s)",
            (now, json.dumps(vars(result))),
        )
    log.info("maintenance: %s", result)
    return result
