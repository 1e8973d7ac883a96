"""Admin-only: users (with their scope) and the audit log."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from web.api import audit
from web.api.deps import Admin, Conn
from web.api.models import MeRead, UserCreate, problems
from web.api.routers.auth import me_read
from web.auth import users

router = APIRouter(tags=["admin"])


class UserRead(MeRead):
    created_at: datetime


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
