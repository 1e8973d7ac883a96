"""Residents' categories for the service list (migration 0007): the current set, and replacing it.

A category that no longer applies is ended (``ended_at``), never deleted, so a past month's entitlements can be
worked out again; one that still applies keeps its row (and its ``since`` and evidence) untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from dispatcher.entitlements.rules import Category


@dataclass(frozen=True)
class CategoryRow:
    category: str
    since: date | None
    evidence: str
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class CategoryEntry:
    category: Category
    since: date | None = None
    evidence: str = ""


def current(conn: psycopg.Connection[Any], resident_id: str) -> list[CategoryRow]:
    """The categories that apply now, by code."""
    with conn.cursor(row_factory=class_row(CategoryRow)) as cur:
        return cur.execute(
            "SELECT category, since, evidence, recorded_by, recorded_at FROM resident_category"
            " WHERE resident_id = %s AND ended_at IS NULL ORDER BY category",
            (resident_id,),
        ).fetchall()


def replace(
    conn: psycopg.Connection[Any], resident_id: str, entries: list[CategoryEntry], *, by: str
) -> tuple[list[str], list[str]]:
    """Make ``entries`` the resident's categories (call inside a transaction); returns (added, ended) codes.

    A kept category whose ``since`` or evidence changed is ended and recorded again, so the change is history too.
    """
    wanted = {e.category.value: e for e in entries}
    rows = conn.execute(
        "SELECT category, since, evidence FROM resident_category WHERE resident_id = %s AND ended_at IS NULL"
        " FOR UPDATE",
        (resident_id,),
    ).fetchall()
    have = {r[0]: (r[1], r[2]) for r in rows}
    ended = sorted(
        c for c, (since, evidence) in have.items()
        if c not in wanted or (wanted[c].since, wanted[c].evidence) != (since, evidence)
    )  # fmt: skip
    if ended:
        conn.execute(
            "UPDATE resident_category SET ended_at = now(), ended_by = %s"
            " WHERE resident_id = %s AND ended_at IS NULL AND category = ANY(%s)",
            (by, resident_id, ended),
        )
    added = sorted(c for c in wanted if c not in have or c in ended)
    for c in added:
        e = wanted[c]
        conn.execute(
            "INSERT INTO resident_category (resident_id, category, since, evidence, recorded_by)"
            " VALUES (%s, %s, %s, %s, %s)",
            (resident_id, c, e.since, e.evidence, by),
        )
    return added, [c for c in ended if c not in wanted]
