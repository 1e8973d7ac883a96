"""Request dependencies: a pooled connection, the authenticated principal, role checks, the access reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import unquote

import psycopg
from fastapi import Depends, Request

from devices.errors import PermissionDenied
from web.auth import sessions
from web.auth.errors import NotAuthenticated
from web.auth.principal import Principal, Role

ACCESS_COOKIE = "ec_access"
REFRESH_COOKIE = "ec_refresh"
CSRF_HEADER = "x-requested-with"
_SAFE = {"GET", "HEAD", "OPTIONS"}


def get_conn(request: Request) -> Iterator[psycopg.Connection[Any]]:
    """A connection from the process pool (autocommit; writes open their own transaction)."""
    with request.app.state.pool.connection() as conn:
        yield conn


Conn = Annotated[psycopg.Connection[Any], Depends(get_conn)]


def now(request: Request) -> datetime:
    """The app's clock (tests may replace ``app.state.clock``)."""
    value: datetime = request.app.state.clock()
    return value


def bearer_or_cookie(headers: Any, cookies: dict[str, str]) -> tuple[str | None, bool]:
    """The access token and whether it came from the cookie."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    return cookies.get(ACCESS_COOKIE), True


def current_user(request: Request, conn: Conn) -> Principal:
    """The caller; cookie-authenticated writes must carry ``X-Requested-With`` (CSRF defence)."""
    token, via_cookie = bearer_or_cookie(request.headers, request.cookies)
    if not token:
        raise NotAuthenticated("not logged in", code="not_authenticated")
    if via_cookie and request.method not in _SAFE and not request.headers.get(CSRF_HEADER):
        raise PermissionDenied("missing X-Requested-With header", code="csrf")
    principal = sessions.resolve(conn, access_token=token, now=now(request))
    request.state.principal = principal
    return principal


User = Annotated[Principal, Depends(current_user)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets only these roles through (403 otherwise)."""

    def check(user: User) -> Principal:
        if user.role not in roles:
            raise PermissionDenied(f"{user.role} users cannot do this", code="forbidden_role")
        return user

    return check


Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Staff = Annotated[Principal, Depends(require(Role.ADMIN, Role.STAFF))]
Anyone = User


def client_ip(request: Request) -> str:
    """The peer address (a proxy in front must be configured by the deployer, not trusted blindly here)."""
    return request.client.host if request.client else "unknown"


def access_reason(request: Request, default: str) -> str:
    """Why the data is read: the ``X-Access-Reason`` header (percent-encoded UTF-8), or the endpoint's purpose."""
    return unquote(request.headers.get("x-access-reason") or default).strip()[:200] or default
