"""The live event feed: a row in ``live_event`` plus ``NOTIFY live, '<id>'`` in the same transaction.

Any process may publish (rules, escalation, planner, API); each API process LISTENs on one connection and
fans events out to websockets. A client that reconnects with its last id reads the gap from the table, so
nothing is missed and nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

CHANNEL = "live"
TOPICS = ("alert", "task", "plan", "device_health")


@dataclass(frozen=True, slots=True)
class LiveEvent:
    id: int
    at: datetime
    topic: str
    station_id: str | None
    home_id: str | None
    subject_id: str | None
    body: dict[str, Any]


def publish(
    conn: psycopg.Connection[Any],
    *,
    topic: str,
    subject_id: str | None,
    station_id: str | None = None,
    home_id: str | None = None,
    body: Mapping[str, Any] | None = None,
) -> int:
    """Record an event and notify listeners when the caller's transaction commits; returns its id."""
    if topic not in TOPICS:
        raise ValueError(f"unknown live topic {topic!r}; one of {', '.join(TOPICS)}")
    row = conn.execute(
        "INSERT INTO live_event (topic, station_id, home_id, subject_id, body) VALUES (%s, %s, %s, %s, %s) "
        "RETURNING id",
        (topic, station_id, home_id, subject_id, Jsonb(dict(body or {}))),
    ).fetchone()
    assert row is not None
    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(row[0])))
    return int(row[0])


def since(conn: psycopg.Connection[Any], after_id: int, *, limit: int = 1000) -> list[LiveEvent]:
    """Events after ``after_id`` in id order (what a reconnecting client missed)."""
    with conn.cursor(row_factory=class_row(LiveEvent)) as cur:
        return cur.execute(
            "SELECT id, at, topic, station_id, home_id, subject_id, body FROM live_event "
            "WHERE id > %s ORDER BY id LIMIT %s",
            (after_id, limit),
        ).fetchall()
