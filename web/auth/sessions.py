"""Sessions: opaque random tokens stored as SHA-256 digests; short-lived access, rotating refresh."""

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


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _new_tokens(now: datetime) -> Tokens:
    return Tokens(
        access_token=secrets.token_urlsafe(32),
        refresh_token=secrets.token_urlsafe(32),
        access_expires_at=now + ACCESS_TTL,
        refresh_expires_at=now + REFRESH_TTL,
    )


def issue(
    conn: psycopg.Connection[Any], *, user_id: int, now: datetime, ip: str | None, user_agent: str | None
) -> Tokens:
    """Open a session for a user who has just authenticated."""
    tokens = _new_tokens(now)
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
        "SELECT user_id FROM web_session WHERE access_hash = %s AND access_expires_at > %s AND revoked_at IS NULL",
        (_digest(access_token), now),
    ).fetchone()
    if row is None:
        raise NotAuthenticated("not logged in or session expired", code="not_authenticated")
    return load_principal(conn, user_id=row[0])


def refresh(conn: psycopg.Connection[Any], *, refresh_token: str, now: datetime) -> tuple[Tokens, int]:
    """Rotate both tokens of a live session; returns the new tokens and the user id."""
    tokens = _new_tokens(now)
    with conn.transaction():
        row = conn.execute(
            "UPDATE web_session SET access_hash = %s, access_expires_at = %s, refresh_hash = %s, "
            "refresh_expires_at = %s WHERE refresh_hash = %s AND refresh_expires_at > %s AND revoked_at IS NULL "
            "RETURNING user_id",
            (_digest(tokens.access_token), tokens.access_expires_at, _digest(tokens.refresh_token),
             min(tokens.refresh_expires_at, now + REFRESH_TTL), _digest(refresh_token), now),
        ).fetchone()  # fmt: skip
    if row is None:
        raise NotAuthenticated("refresh token unknown, used or expired", code="not_authenticated")
    return tokens, int(row[0])


def revoke(conn: psycopg.Connection[Any], *, access_token: str, now: datetime) -> None:
    """End the session of this access token (logout)."""
    with conn.transaction():
        conn.execute(
            "UPDATE web_session SET revoked_at = %s WHERE access_hash = %s AND revoked_at IS NULL",
            (now, _digest(access_token)),
        )
