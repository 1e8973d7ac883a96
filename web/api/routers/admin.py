"""Admin-only: users (with their scope), disabling them, resetting passwords, ending sessions; the audit log."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from devices.errors import ConflictError
from web.api import audit
from web.api.deps import Admin, Conn, now
from web.api.models import MeRead, UserCreate, problems
from web.api.routers.auth import me_read
from web.auth import sessions, users
from web.auth.principal import Principal

router = APIRouter(tags=["admin"])


class UserRead(MeRead):
    created_at: datetime
    disabled_at: datetime | None = None


class PasswordReset(BaseModel):
    user_id: int
    username: str
    password: str  # shown once: only its hash is kept
    sessions_revoked: bool = True


class SessionsRevoked(BaseModel):
    user_id: int
    revoked: int


UserId = Annotated[int, Path(ge=1, le=2**62)]


class AuditRead(BaseModel):
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


@router.get("/users", responses=problems(401, 403))
def list_users(conn: Conn, _user: Admin) -> list[UserRead]:
    """All users and their scope."""
    return [UserRead(**asdict(u)) for u in users.list_users(conn)]


@router.post("/users", status_code=201, responses=problems(401, 403, 409, 422))
def create_user(body: UserCreate, conn: Conn, _user: Admin) -> MeRead:
    """Create a user (the password is chosen by the admin and never returned)."""
    created = users.create_user(
        conn, username=body.username, name=body.name, role=body.role, password=body.password,
        station_ids=body.station_ids, resident_ids=body.resident_ids, caregiver_id=body.caregiver_id,
    )  # fmt: skip
    return me_read(created)


def _account_audit(request: Request, conn: Conn, admin: Principal, action: str, user_id: int) -> None:
    """Account actions are audited like reads of personal data: who did what to whom, from where."""
    audit.read(request, conn, admin, f"user/{user_id}", [], f"admin: {action}", action=action)


def _not_self(user_id: int, admin: Principal, what: str) -> None:
    if user_id == admin.id:
        raise ConflictError(f"admins cannot {what} themselves", code="self_action")


@router.post("/users/{user_id}/disable", responses=problems(401, 403, 404, 409))
def disable_user(user_id: UserId, request: Request, conn: Conn, admin: Admin) -> UserRead:
    """Disable a user: their sessions end at once (the live feed closes within seconds), login is refused."""
    _not_self(user_id, admin, "disable")
    row = users.set_disabled(conn, user_id, disabled=True, now=now(request))
    _account_audit(request, conn, admin, "disable_user", user_id)
    return UserRead(**asdict(row))


@router.post("/users/{user_id}/enable", responses=problems(401, 403, 404))
def enable_user(user_id: UserId, request: Request, conn: Conn, admin: Admin) -> UserRead:
    """Let a disabled user log in again."""
    row = users.set_disabled(conn, user_id, disabled=False, now=now(request))
    _account_audit(request, conn, admin, "enable_user", user_id)
    return UserRead(**asdict(row))


@router.post("/users/{user_id}/reset-password", responses=problems(401, 403, 404, 409))
def reset_password(user_id: UserId, request: Request, conn: Conn, admin: Admin) -> PasswordReset:
    """A new random password, returned once (give it to the user); every session of the user ends."""
    _not_self(user_id, admin, "reset the password of")
    target = users.get_user(conn, user_id)
    password = users.reset_password(conn, user_id, now=now(request))
    _account_audit(request, conn, admin, "reset_password", user_id)
    return PasswordReset(user_id=user_id, username=target.username, password=password)


@router.post("/users/{user_id}/revoke-sessions", responses=problems(401, 403, 404))
def revoke_sessions(user_id: UserId, request: Request, conn: Conn, admin: Admin) -> SessionsRevoked:
    """End every session of a user (they must log in again)."""
    users.get_user(conn, user_id)
    revoked = sessions.revoke_user(conn, user_id=user_id, now=now(request))
    _account_audit(request, conn, admin, "revoke_sessions", user_id)
    return SessionsRevoked(user_id=user_id, revoked=revoked)


@router.get("/audit", responses=problems(401, 403))
def audit_log(
    conn: Conn,
    _user: Admin,
    resident_id: str | None = None,
    user_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditRead]:
    """Who read whose personal data, when and why (newest first)."""
    rows = audit.search(conn, resident_id=resident_id, user_id=user_id, before_id=before_id, limit=limit)
    return [AuditRead(**asdict(r)) for r in rows]
