"""The audit log of reads of residents' personal data: who, what, when, why.

Rows go to ``audit.audit_log``, which the application role may only append to and read (migration 0006).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from fastapi import Request
from psycopg.rows import class_row

from web.api.deps import access_reason, client_ip
from web.auth.principal import Principal, Role


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
            "INSERT INTO audit.audit_log (user_id, username, role, action, resource, resident_ids, reason, ip) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (principal.id, principal.username, principal.role.value, action, resource,
             sorted(set(resident_ids)), reason[:200], ip),
        )  # fmt: skip


def read(
    request: Request,
    conn: psycopg.Connection[Any],
    user: Principal,
    resource: str,
    resident_ids: Iterable[str],
    why: str,
    *,
    action: str = "read",
) -> None:
    """Audit what a request is about to return: ``why`` is the default reason (``X-Access-Reason`` wins)."""
    record(
        conn, principal=user, action=action, resource=resource, resident_ids=resident_ids,
        reason=access_reason(request, why), ip=client_ip(request),
    )  # fmt: skip


def residents_of_homes(conn: psycopg.Connection[Any], home_ids: Iterable[str]) -> list[str]:
    """The residents living in these homes (what a response about homes, tasks or devices reveals)."""
    ids = sorted(set(home_ids))
    if not ids:
        return []
    rows = conn.execute("SELECT id FROM resident WHERE home_id = ANY(%s)", (ids,)).fetchall()
    return [r[0] for r in rows]


def live_session(
    conn: psycopg.Connection[Any],
    principal: Principal,
    *,
    homes: Iterable[str],
    ip: str | None,
    replay_after: int | None = None,
) -> None:
    """One row per live-feed socket (and one per replay), not per event: who, and the scope they will receive.

    Family and caregivers receive events of a few homes, so their residents are listed; staff and admins
    receive whole stations, which the resource names instead of thousands of resident ids.
    """
    if principal.role is Role.ADMIN:
        scope = "all"
    elif principal.role is Role.STAFF:
        scope = "stations:" + ",".join(sorted(principal.station_ids))
    else:
        scope = "homes:" + ",".join(sorted(homes))
    residents = [] if principal.role in (Role.ADMIN, Role.STAFF) else residents_of_homes(conn, homes)
    what = "live feed" if replay_after is None else f"live feed replay after {replay_after}"
    record(
        conn, principal=principal, action="replay" if replay_after is not None else "subscribe",
        resource=f"ws/live {scope}"[:500], resident_ids=residents, reason=what, ip=ip,
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
            "SELECT id, at, user_id, username, role, action, resource, resident_ids, reason, ip FROM audit.audit_log "
            "WHERE (%(r)s::text IS NULL OR resident_ids @> ARRAY[%(r)s::text]) "
            "AND (%(u)s::bigint IS NULL OR user_id = %(u)s) AND (%(b)s::bigint IS NULL OR id < %(b)s) "
            "ORDER BY id DESC LIMIT %(n)s",
            {"r": resident_id, "u": user_id, "b": before_id, "n": limit},
        ).fetchall()
