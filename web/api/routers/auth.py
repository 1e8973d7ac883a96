"""Login (cookie and bearer), token refresh, logout, and who am I."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from web.api.deps import ACCESS_COOKIE, REFRESH_COOKIE, Conn, User, bearer_or_cookie, client_ip, now
from web.api.models import LoginIn, LoginRead, MeRead, problems
from web.auth import sessions, users
from web.auth.errors import NotAuthenticated
from web.auth.principal import Principal

router = APIRouter(tags=["auth"])
_REFRESH_PATH = "/api/auth"


def me_read(p: Principal) -> MeRead:
    """The public form of a principal."""
    return MeRead(
        id=p.id, username=p.username, name=p.name, role=p.role, station_ids=list(p.station_ids),
        resident_ids=list(p.resident_ids), caregiver_id=p.caregiver_id,
    )  # fmt: skip


def max_age(request: Request) -> timedelta:
    """The absolute session lifetime (``ELDERCARE_SESSION_MAX_HOURS``)."""
    return timedelta(hours=request.app.state.settings.session_max_hours)


def _set_cookies(request: Request, response: Response, tokens: sessions.Tokens) -> None:
    secure = bool(request.app.state.cookie_secure)
    response.set_cookie(
        ACCESS_COOKIE, tokens.access_token, max_age=int(sessions.ACCESS_TTL.total_seconds()),
        httponly=True, secure=secure, samesite="strict", path="/",
    )  # fmt: skip
    response.set_cookie(
        REFRESH_COOKIE, tokens.refresh_token, max_age=int(sessions.REFRESH_TTL.total_seconds()),
        httponly=True, secure=secure, samesite="strict", path=_REFRESH_PATH,
    )  # fmt: skip


@router.post("/auth/login", responses=problems(401, 422, 429))
def login(body: LoginIn, request: Request, response: Response, conn: Conn) -> LoginRead:
    """Check the password (throttled per account and client address, with backoff; a client with no failed
    attempts is never refused); sets HttpOnly cookies, also returns a bearer token."""
    at = now(request)
    principal = users.authenticate(
        conn, username=body.username, password=body.password, ip=client_ip(request), now=at
    )
    tokens = sessions.issue(
        conn,
        user_id=principal.id,
        now=at,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        max_age=max_age(request),
    )
    _set_cookies(request, response, tokens)
    return LoginRead(
        access_token=tokens.access_token, expires_at=tokens.access_expires_at, user=me_read(principal)
    )


@router.post("/auth/refresh", responses=problems(401))
def refresh(request: Request, response: Response, conn: Conn) -> LoginRead:
    """Rotate the session's tokens with the refresh cookie (or ``X-Refresh-Token``), within the session's
    absolute lifetime (then 401: log in again)."""
    token = request.headers.get("x-refresh-token") or request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise NotAuthenticated("no refresh token", code="not_authenticated")
    tokens, user_id = sessions.refresh(conn, refresh_token=token, now=now(request), max_age=max_age(request))
    _set_cookies(request, response, tokens)
    principal = users.load_principal(conn, user_id=user_id)
    return LoginRead(
        access_token=tokens.access_token, expires_at=tokens.access_expires_at, user=me_read(principal)
    )


@router.post("/auth/logout", status_code=204, responses=problems(401))
def logout(request: Request, response: Response, conn: Conn, _user: User) -> None:
    """End this session and clear the cookies."""
    token, _ = bearer_or_cookie(request.headers, request.cookies)
    if token:
        sessions.revoke(conn, access_token=token, now=now(request))
    response.delete_cookie(ACCESS_COOKIE, path="/")
    response.delete_cookie(REFRESH_COOKIE, path=_REFRESH_PATH)


@router.get("/me", responses=problems(401))
def me(user: User) -> MeRead:
    """The logged-in user and their scope."""
    return me_read(user)
