"""Users and their scope: create, list, load as a Principal, authenticate with throttling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

from devices.errors import ConflictError, NotFoundError, ValidationFailed
from web.auth.errors import NotAuthenticated, Throttled
from web.auth.passwords import MIN_LENGTH, hash_password, verify_password
from web.auth.principal import Principal, Role

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_IP = 30

_PRINCIPAL_SQL = """
    SELECT u.id, u.username, u.name, u.role, u.caregiver_id,
           coalesce(array(SELECT station_id FROM user_station WHERE user_id = u.id ORDER BY 1), '{}'),
           coalesce(array(SELECT resident_id FROM user_resident WHERE user_id = u.id ORDER BY 1), '{}')
    FROM app_user u WHERE u.disabled_at IS NULL AND """


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    name: str
    role: str
    caregiver_id: str | None
    station_ids: list[str]
    resident_ids: list[str]
    created_at: datetime


def _principal(row: tuple[Any, ...]) -> Principal:
    return Principal(
        id=row[0], username=row[1], name=row[2], role=Role(row[3]), caregiver_id=row[4],
        station_ids=tuple(row[5]), resident_ids=tuple(row[6]),
    )  # fmt: skip


def _check_scope(role: Role, station_ids: list[str], resident_ids: list[str]) -> None:
    if role in (Role.STAFF, Role.CAREGIVER) and not station_ids:
        raise ValidationFailed(f"a {role} user needs at least one station", code="station_required")
    if role is Role.FAMILY and not resident_ids:
        raise ValidationFailed(
            "a family user needs the resident they are related to", code="resident_required"
        )
    if role is not Role.FAMILY and resident_ids:
        raise ValidationFailed("only family users are linked to residents", code="invalid_scope")


def create_user(
    conn: psycopg.Connection[Any],
    *,
    username: str,
    name: str,
    role: Role,
    password: str,
    station_ids: list[str] | None = None,
    resident_ids: list[str] | None = None,
    caregiver_id: str | None = None,
) -> Principal:
    """Create a user with their scope; raises ConflictError when the username is taken."""
    stations, residents = list(station_ids or []), list(resident_ids or [])
    _check_scope(role, stations, residents)
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(f"password must have at least {MIN_LENGTH} characters", code="weak_password")
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO app_user (username, name, role, password_hash, caregiver_id) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (username, name, role.value, hash_password(password), caregiver_id),
            ).fetchone()
            assert row is not None
            for station in stations:
                conn.execute("INSERT INTO user_station VALUES (%s, %s)", (row[0], station))
            for resident in residents:
                conn.execute("INSERT INTO user_resident VALUES (%s, %s)", (row[0], resident))
    except psycopg.errors.UniqueViolation as exc:
        raise ConflictError(f"user {username!r} already exists", code="user_exists") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise ValidationFailed(
            exc.diag.message_detail or "unknown station or resident", code="unknown_reference"
        ) from exc
    except psycopg.errors.CheckViolation as exc:
        raise ValidationFailed(exc.diag.message_primary or "invalid user", code="invalid") from exc
    return load_principal(conn, user_id=row[0])


def load_principal(conn: psycopg.Connection[Any], *, user_id: int) -> Principal:
    """The active user with this id, with their scope; NotFoundError otherwise."""
    row = conn.execute(_PRINCIPAL_SQL + "u.id = %s", (user_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no user {user_id}", code="user_not_found")
    return _principal(row)


def list_users(conn: psycopg.Connection[Any]) -> list[UserRow]:
    """All users (admins only call this), without password hashes."""
    with conn.cursor(row_factory=class_row(UserRow)) as cur:
        return cur.execute(
            "SELECT u.id, u.username, u.name, u.role, u.caregiver_id, "
            "array(SELECT station_id FROM user_station WHERE user_id = u.id ORDER BY 1) AS station_ids, "
            "array(SELECT resident_id FROM user_resident WHERE user_id = u.id ORDER BY 1) AS resident_ids, "
            "u.created_at FROM app_user u ORDER BY u.id"
        ).fetchall()


def _check_throttle(conn: psycopg.Connection[Any], *, username: str, ip: str, now: datetime) -> None:
    since = now - THROTTLE_WINDOW
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE username = %(u)s), count(*) FILTER (WHERE ip = %(ip)s) "
        "FROM login_attempt WHERE at > %(since)s AND NOT ok AND (username = %(u)s OR ip = %(ip)s) "
        "AND at > coalesce((SELECT max(at) FROM login_attempt WHERE ok AND username = %(u)s), '-infinity')",
        {"u": username, "ip": ip, "since": since},
    ).fetchone()
    assert row is not None
    if row[0] >= MAX_FAILURES_PER_USER or row[1] >= MAX_FAILURES_PER_IP:
        raise Throttled(
            "too many failed logins; try again later", retry_after=int(THROTTLE_WINDOW.total_seconds())
        )


def authenticate(
    conn: psycopg.Connection[Any], *, username: str, password: str, ip: str, now: datetime
) -> Principal:
    """Check a password, recording the attempt; raises Throttled or NotAuthenticated."""
    _check_throttle(conn, username=username, ip=ip, now=now)
    row = conn.execute(
        "SELECT id, password_hash FROM app_user WHERE username = %s AND disabled_at IS NULL", (username,)
    ).fetchone()
    ok = verify_password(row[1] if row else None, password)
    with conn.transaction():
        conn.execute(
            "INSERT INTO login_attempt (at, username, ip, ok) VALUES (%s, %s, %s, %s)",
            (now, username, ip, ok),
        )
    if not ok or row is None:
        raise NotAuthenticated("wrong username or password", code="bad_credentials")
    return load_principal(conn, user_id=row[0])
