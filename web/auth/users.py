"""Users and their scope: create, list, load as a Principal, authenticate with throttling, and the admin
actions (disable / enable, reset a password, revoke sessions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from devices.accounts import check_not_reserved
from devices.errors import ConflictError, NotFoundError, ValidationFailed
from web.auth import throttle
from web.auth.errors import NotAuthenticated, Throttled
from web.auth.passwords import MAX_LENGTH, MIN_LENGTH, generate_password, hash_password, verify_password
from web.auth.principal import Principal, Role

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
    disabled_at: datetime | None


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
    """Create a user with their scope; raises ConflictError when the username is taken, ValidationFailed
    when it is reserved for the platform's broker accounts (``svc-*``) or the scope does not fit the role."""
    check_not_reserved(username, what="username")
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


_USER_ROW_SQL = (
    "SELECT u.id, u.username, u.name, u.role, u.caregiver_id, "
    "array(SELECT station_id FROM user_station WHERE user_id = u.id ORDER BY 1) AS station_ids, "
    "array(SELECT resident_id FROM user_resident WHERE user_id = u.id ORDER BY 1) AS resident_ids, "
    "u.created_at, u.disabled_at FROM app_user u "
)


def list_users(conn: psycopg.Connection[Any]) -> list[UserRow]:
    """All users (admins only call this), without password hashes."""
    with conn.cursor(row_factory=class_row(UserRow)) as cur:
        return cur.execute(_USER_ROW_SQL + "ORDER BY u.id").fetchall()


def get_user(conn: psycopg.Connection[Any], user_id: int) -> UserRow:
    """One user, disabled or not; NotFoundError when there is none."""
    with conn.cursor(row_factory=class_row(UserRow)) as cur:
        row = cur.execute(_USER_ROW_SQL + "WHERE u.id = %s", (user_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no user {user_id}", code="user_not_found")
    return row


def _revoke_sessions(conn: psycopg.Connection[Any], user_id: int, now: datetime) -> None:
    from web.auth.sessions import revoke_user  # sessions imports this module

    revoke_user(conn, user_id=user_id, now=now)


def set_disabled(conn: psycopg.Connection[Any], user_id: int, *, disabled: bool, now: datetime) -> UserRow:
    """Disable (every session ends at once) or enable a user."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE app_user SET disabled_at = CASE WHEN %s THEN coalesce(disabled_at, %s) END WHERE id = %s",
            (disabled, now, user_id),
        )
        if cur.rowcount == 0:
            raise NotFoundError(f"no user {user_id}", code="user_not_found")
        if disabled:
            _revoke_sessions(conn, user_id, now)
    return get_user(conn, user_id)


def reset_password(conn: psycopg.Connection[Any], user_id: int, *, now: datetime) -> str:
    """Give a user a new random password (returned once, stored only hashed) and end their sessions."""
    password = generate_password()
    with conn.transaction():
        cur = conn.execute(
            "UPDATE app_user SET password_hash = %s WHERE id = %s", (hash_password(password), user_id)
        )
        if cur.rowcount == 0:
            raise NotFoundError(f"no user {user_id}", code="user_not_found")
        _revoke_sessions(conn, user_id, now)
    return password


def set_password(conn: psycopg.Connection[Any], username: str, password: str) -> bool:
    """Set a user's password by name (demo seeding); False when there is no such user."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(f"password must have at least {MIN_LENGTH} characters", code="weak_password")
    with conn.transaction():
        cur = conn.execute(
            "UPDATE app_user SET password_hash = %s WHERE username = %s", (hash_password(password), username)
        )
    return cur.rowcount > 0


def _history(conn: psycopg.Connection[Any], *, username: str, ip: str, now: datetime) -> throttle.History:
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE ip = %(ip)s AND NOT ok AND at > coalesce((SELECT max(at) FROM login_attempt"
        " WHERE ok AND username = %(u)s AND ip = %(ip)s AND at > %(since)s), '-infinity')),"
        " max(at) FILTER (WHERE ip = %(ip)s AND NOT ok), count(*) FILTER (WHERE NOT ok) "
        "FROM login_attempt WHERE username = %(u)s AND at > %(since)s",
        {"u": username, "ip": ip, "since": now - throttle.WINDOW},
    ).fetchone()
    assert row is not None
    return throttle.History(pair_failures=row[0], last_failure=row[1], account_failures=row[2])


def authenticate(
    conn: psycopg.Connection[Any], *, username: str, password: str, ip: str, now: datetime
) -> Principal:
    """Check a password, recording the attempt; raises Throttled or NotAuthenticated.

    Throttling is per (username, address) pair with backoff (``web.auth.throttle``): a pair with no
    failures is never refused. The check, the verification and the record of the attempt run under one
    advisory lock per pair, so concurrent guesses from one place cannot all slip past the check.
    """
    if not 1 <= len(username) <= 64 or not 1 <= len(password) <= MAX_LENGTH:
        raise NotAuthenticated("wrong username or password", code="bad_credentials")  # before any hashing
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))", (f"login\x1f{username}\x1f{ip}",)
        )
        wait = throttle.retry_after(_history(conn, username=username, ip=ip, now=now), now)
        if wait > 0:
            raise Throttled("too many failed logins from here; try again later", retry_after=wait)
        row = conn.execute(
            "SELECT id, password_hash FROM app_user WHERE username = %s AND disabled_at IS NULL", (username,)
        ).fetchone()
        ok = verify_password(row[1] if row else None, password) and row is not None
        conn.execute(
            "INSERT INTO login_attempt (at, username, ip, ok) VALUES (%s, %s, %s, %s)",
            (now, username, ip, ok),
        )
    if not ok or row is None:
        raise NotAuthenticated("wrong username or password", code="bad_credentials")
    return load_principal(conn, user_id=row[0])
