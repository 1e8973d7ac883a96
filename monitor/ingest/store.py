"""Writing a classified batch to TimescaleDB in one transaction: COPY into staging, insert once, upsert health."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.types.json import set_json_dumps

from devices.types import DeviceKind
from monitor.ingest.pipeline import DeadRow, DeviceIndex, DeviceInfo, ReadingRow, StatusRow

STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS reading_stage (LIKE reading INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS dead_stage (LIKE dead_letter INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
"""


@dataclass
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dead_duplicates: int = 0


READING_TYPES = ["timestamptz", "text", "int8", "text", "text", "text", "jsonb", "timestamptz"]

try:  # optional: about twice as fast as the standard library for the jsonb column
    import orjson

    def _dumps(obj: object) -> bytes | str:
        try:
            return orjson.dumps(obj)
        except TypeError:  # e.g. an integer beyond 64 bits, which json handles
            return json.dumps(obj, separators=(",", ":"))

except ImportError:  # pragma: no cover - depends on the environment

    def _dumps(obj: object) -> bytes | str:
        return json.dumps(obj, separators=(",", ":"))


def prepare(conn: psycopg.Connection) -> None:
    """Per-connection setup: the staging tables and the JSON serializer for binary COPY."""
    set_json_dumps(_dumps, context=conn)
    conn.execute(STAGE_DDL)
    conn.commit()


def write_batch(
    conn: psycopg.Connection,
    *,
    readings: Sequence[ReadingRow],
    dead: Sequence[DeadRow],
    statuses: Sequence[StatusRow],
) -> BatchResult:
    """Store a batch atomically. Readings already stored (same device, time, seq) are skipped, not doubled."""
    result = BatchResult()
    with conn.transaction(), conn.cursor() as cur:
        if readings:
            with cur.copy(
                "COPY reading_stage (time, device_id, seq, kind, home_id, room, data, received_at) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(READING_TYPES)
                write = copy.write_row
                for row in readings:
                    r = row.reading
                    write(
                        (
                            r.ts,
                            r.device_id,
                            r.seq,
                            r.kind.value,
                            row.home_id,
                            row.room,
                            r.values,
                            row.received_at,
                        )
                    )
            cur.execute(
                "INSERT INTO reading SELECT DISTINCT ON (device_id, time, seq) * FROM reading_stage "
                "ON CONFLICT DO NOTHING"
            )
            result.stored = cur.rowcount
            result.duplicates = len(readings) - result.stored
            _upsert_health(cur, readings)
        if dead:
            with cur.copy(
                "COPY dead_stage (received_at, topic, payload, reason, device_id, msg_key) FROM STDIN"
            ) as copy:
                for d in dead:
                    copy.write_row((d.received_at, d.topic, d.payload, d.reason, d.device_id, d.key))
            cur.execute(
                "INSERT INTO dead_letter (received_at, topic, payload, reason, device_id, msg_key) "
                "SELECT DISTINCT ON (msg_key) received_at, topic, payload, reason, device_id, msg_key FROM dead_stage "
                "ON CONFLICT (msg_key) DO NOTHING"
            )
            result.dead_lettered = cur.rowcount
            result.dead_duplicates = len(dead) - result.dead_lettered
        if statuses:
            _upsert_statuses(cur, statuses)
    return result


def _upsert_statuses(cur: psycopg.Cursor, statuses: Sequence[StatusRow]) -> None:
    """One statement for a batch's statuses (a reconnecting neighbourhood sends one per connection): per device
    the last reported status in arrival order, as one statement per message would leave it."""
    last: dict[str, tuple[str, datetime, datetime]] = {}
    for st in statuses:
        seen = last.get(st.device_id)
        last[st.device_id] = (st.status, st.at, st.at if seen is None else max(seen[2], st.at))
    ids = list(last)
    cur.execute(
        """INSERT INTO device_health (device_id, reported_status, reported_status_at, last_seen)
           SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])
           ON CONFLICT (device_id) DO UPDATE SET reported_status = EXCLUDED.reported_status,
             reported_status_at = EXCLUDED.reported_status_at,
             last_seen = GREATEST(device_health.last_seen, EXCLUDED.last_seen), updated_at = now()""",
        (ids, [last[i][0] for i in ids], [last[i][1] for i in ids], [last[i][2] for i in ids]),
    )


def _upsert_health(cur: psycopg.Cursor, readings: Sequence[ReadingRow]) -> None:
    latest: dict[str, tuple[datetime, datetime, float | None, bool | None]] = {}
    for row in readings:
        r = row.reading
        seen, ts, battery, low = latest.get(r.device_id, (row.received_at, r.ts, None, None))
        b = r.values.get("battery")
        lo = r.values.get("battery_low")
        latest[r.device_id] = (
            max(seen, row.received_at),
            max(ts, r.ts),
            float(b) if isinstance(b, int | float) and not isinstance(b, bool) else battery,
            lo if isinstance(lo, bool) else low,
        )
    ids = list(latest)
    cur.execute(
        """INSERT INTO device_health (device_id, last_seen, last_reading_at, battery, battery_low)
           SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[], %s::real[], %s::boolean[])
           ON CONFLICT (device_id) DO UPDATE SET
             last_seen = GREATEST(device_health.last_seen, EXCLUDED.last_seen),
             last_reading_at = GREATEST(device_health.last_reading_at, EXCLUDED.last_reading_at),
             battery = COALESCE(EXCLUDED.battery, device_health.battery),
             battery_low = COALESCE(EXCLUDED.battery_low, device_health.battery_low),
             updated_at = now()""",
        (ids, [latest[i][0] for i in ids], [latest[i][1] for i in ids], [latest[i][2] for i in ids],
         [latest[i][3] for i in ids]),
    )  # fmt: skip


def load_index(conn: psycopg.Connection) -> DeviceIndex:
    index = DeviceIndex()
    rows = conn.execute(
        "SELECT id, kind, home_id, room, status, gateway_id, z2m_friendly_name FROM device"
    ).fetchall()
    conn.commit()
    for device_id, kind, home_id, room, status, gateway_id, friendly in rows:
        try:
            dk = DeviceKind(kind)
        except ValueError:
            continue
        index.by_id[device_id] = DeviceInfo(device_id, dk, home_id, room, status)
        if gateway_id is not None and friendly is not None:
            index.by_z2m[(gateway_id, friendly)] = device_id
    return index
