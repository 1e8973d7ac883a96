"""Sessions: opaque random tokens stored as SHA-256 digests; short-lived access, rotating refresh.

A session has an absolute lifetime (``max_age``, the ``ELDERCARE_SESSION_MAX_HOURS`` setting) counted from
the login: refreshing rotates the tokens but never carries the session past it, so a stolen refresh token
is good for at most that long. A disabled user's sessions stop working at once (and are revoked).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from web.auth.errors import NotAuthenticated
from web.auth.principal import Principal
from web.auth.users import load_principal

ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(hours=12)
MAX_AGE = timedelta(hours=12)  # the default absolute lifetime


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _new_tokens(now: datetime, ends: datetime) -> Tokens:
    return Tokens(
        access_token=secrets.token_urlsafe(32),
        refresh_token=secrets.token_urlsafe(32),
        access_expires_at=min(now + ACCESS_TTL, ends),
        refresh_expires_at=min(now + REFRESH_TTL, ends),
    )


def issue(
    conn: psycopg.Connection[Any],
    *,
    user_id: int,
    now: datetime,
    ip: str | None,
    user_agent: str | None,
    max_age: timedelta = MAX_AGE,
) -> Tokens:
    """Open a session for a user who has just authenticated."""
    tokens = _new_tokens(now, now + max_age)
    with conn.transaction():
        conn.execute(
            "INSERT INTO web_session (user_id, access_hash, access_expires_at, refresh_hash, refresh_expires_at, "
            "created_at, ip, user_agent) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (user_id, _digest(tokens.access_token), tokens.access_expires_at, _digest(tokens.refresh_token),
             tokens.refresh_expires_at, now, ip, (user_agent or "")[:200]),
        )  # fmt: skip
    return tokens


def resolve(conn: psycopg.Connection[Any], *, access_token: str, now: datetime) -> Principal:
    """The user behind a valid access token; NotAuthenticated when it is unknown, expired or revoked."""
    row = conn.execute(
        "SELECT s.user_id FROM web_session s JOIN app_user u ON u.id = s.user_id WHERE s.access_hash = %s "
        "AND s.access_expires_at > %s AND s.revoked_at IS NULL AND u.disabled_at IS NULL",
        (_digest(access_token), now),
    ).fetchone()
    if row is None:
        raise NotAuthenticated("not logged in or session expired", code="not_authenticated")
    return load_principal(conn, user_id=row[0])


def refresh(
    conn: psycopg.Connection[Any], *, refresh_token: str, now: datetime, max_age: timedelta = MAX_AGE
) -> tuple[Tokens, int]:
    """Rotate both tokens of a live session within its absolute lifetime; returns the new tokens and user id."""
    with conn.transaction():
        found = conn.execute(
            "SELECT s.id, s.user_id, s.created_at FROM web_session s JOIN app_user u ON u.id = s.user_id "
            "WHERE s.refresh_hash = %s AND s.refresh_expires_at > %s AND s.revoked_at IS NULL "
            "AND u.disabled_at IS NULL AND s.created_at + %s > %s FOR UPDATE OF s",
            (_digest(refresh_token), now, max_age, now),
        ).fetchone()
        if found is None:
            raise NotAuthenticated(
                "refresh token unknown, used or expired, or the session is too old; log in again",
                code="not_authenticated",
            )
        session_id, user_id, created_at = found
        tokens = _new_tokens(now, created_at + max_age)
        conn.execute(
            "UPDATE web_session SET access_hash = %s, access_expires_at = %s, refresh_hash = %s, "
            "refresh_expires_at = %s WHERE id = %s",
            (_digest(tokens.access_token), tokens.access_expires_at, _digest(tokens.refresh_token),
             tokens.refresh_expires_at, session_id),
        )  # fmt: skip
    return tokens, int(user_id)


def revoke(conn: psycopg.Connection[Any], *, access_token: str, now: datetime) -> None:
    """End the session of this access token (logout)."""
    with conn.transaction():
        conn.execute(
            "UPDATE web_session SET revoked_at = %s WHERE access_hash = %s AND revoked_at IS NULL",
            (now, _digest(access_token)),
        )


def revoke_user(conn: psycopg.Connection[Any], *, user_id: int, now: datetime) -> int:
    """End every session of a user (admin action, disable, password reset); returns how many."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE web_session SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL", (now, user_id)
        )
    return cur.rowcount
