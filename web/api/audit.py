"""The audit log of reads of residents' personal data: who, what, when, why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from web.auth.principal import Principal


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    user_id: int | None
    username: str
    role: str
    action: str
    resource: str
    resident_ids: list[str]
    reason: str
    ip: str | None


def record(
    conn: psycopg.Connection[Any],
    *,
    principal: Principal,
    action: str,
    resource: str,
    resident_ids: Iterable[str],
    reason: str,
    ip: str | None,
) -> None:
    """Write one audit row (autocommit connection: it is durable before the data leaves the server)."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO audit_log (user_id, username, role, action, resource, resident_ids, reason, ip) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (principal.id, principal.username, principal.role.value, action, resource,
             sorted(set(resident_ids)), reason[:200], ip),
        )  # fmt: skip


def search(
    conn: psycopg.Connection[Any],
    *,
    resident_id: str | None = None,
    user_id: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first; filter by resident (who looked at this person?) and/or user (what did they look at?)."""
    with conn.cursor(row_factory=class_row(AuditEntry)) as cur:
        return cur.execute(
            "SELECT id, at, user_id, username, role, action, resource, resident_ids, reason, ip FROM audit_log "
            "WHERE (%(r)s::text IS NULL OR resident_ids @> ARRAY[%(r)s::text]) "
            "AND (%(u)s::bigint IS NULL OR user_id = %(u)s) AND (%(b)s::bigint IS NULL OR id < %(b)s) "
            "ORDER BY id DESC LIMIT %(n)s",
            {"r": resident_id, "u": user_id, "b": before_id, "n": limit},
        ).fetchall()
