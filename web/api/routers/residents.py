"""Residents: full record for admins and staff, the minimum for caregivers and family; every read audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Query, Request
from psycopg import sql
from psycopg.rows import dict_row

from devices import registry
from devices.errors import NotFoundError
from web.api import audit
from web.api.deps import Conn, Staff, User, access_reason, client_ip
from web.api.models import ResidentBrief, ResidentCreate, ResidentRead, problems
from web.api.routers.homes import check_home
from web.api.scope import resident_scope
from web.auth.principal import Principal, Role

router = APIRouter(tags=["residents"])

_FULL = sql.SQL(
    "r.id, r.home_id, r.name, h.address, h.access_notes, r.care_notes, h.station_id, r.birth_year, r.sex, "
    "r.living_alone, r.emergency_contacts, r.presence"
)
_BRIEF = sql.SQL("r.id, r.home_id, r.name, h.address, h.access_notes, r.care_notes")


def full_view(user: Principal) -> bool:
    """Admins and staff see the whole record; caregivers and family the minimum."""
    return user.role in (Role.ADMIN, Role.STAFF)


def query_residents(
    conn: Conn, user: Principal, *, where: sql.Composable, params: Mapping[str, object], page: bool = False
) -> list[ResidentRead] | list[ResidentBrief]:
    """Residents matching ``where`` inside the caller's scope, in the caller's projection."""
    cols = _FULL if full_view(user) else _BRIEF
    text = "SELECT {} FROM resident r JOIN home h ON h.id = r.home_id WHERE {} AND ({}) ORDER BY r.id"
    query = sql.SQL(text + (" LIMIT %(lim)s OFFSET %(off)s" if page else ""))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query.format(cols, resident_scope(user), where), params).fetchall()
    if full_view(user):
        return [ResidentRead(**r) for r in rows]
    return [ResidentBrief(**r) for r in rows]


def _audit(request: Request, conn: Conn, user: Principal, resource: str, ids: list[str], why: str) -> None:
    audit.record(
        conn, principal=user, action="read", resource=resource, resident_ids=ids,
        reason=access_reason(request, why), ip=client_ip(request),
    )  # fmt: skip


@router.get("/residents", responses=problems(401))
def list_residents(
    request: Request,
    conn: Conn,
    user: User,
    home_id: str | None = None,
    station_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ResidentRead] | list[ResidentBrief]:
    """Residents in scope (audited: the ids returned, who, why)."""
    where = sql.SQL(
        "(%(home)s::text IS NULL OR r.home_id = %(home)s) AND (%(st)s::text IS NULL OR h.station_id = %(st)s)"
    )
    params = {"home": home_id, "st": station_id, "lim": limit, "off": offset}
    rows = query_residents(conn, user, where=where, params=params, page=True)
    _audit(request, conn, user, "residents", [r.id for r in rows], "resident list")
    return rows


@router.get("/residents/{resident_id}", responses=problems(401, 404))
def get_resident(resident_id: str, request: Request, conn: Conn, user: User) -> ResidentRead | ResidentBrief:
    """One resident (404 outside the caller's scope; audited)."""
    rows = query_residents(conn, user, where=sql.SQL("r.id = %(id)s"), params={"id": resident_id})
    if not rows:
        raise NotFoundError(f"no resident {resident_id!r}")
    _audit(request, conn, user, f"resident/{resident_id}", [resident_id], "resident record")
    return rows[0]


@router.post("/residents", status_code=201, responses=problems(401, 403, 404, 409, 422))
def create_resident(body: ResidentCreate, request: Request, conn: Conn, user: Staff) -> ResidentRead:
    """Register a resident in a home of the caller's scope."""
    check_home(conn, user, body.home_id)

    registry.add_resident(
        conn, id=body.id, home_id=body.home_id, name=body.name, birth_year=body.birth_year, sex=body.sex,
        living_alone=body.living_alone, emergency_contacts=body.emergency_contacts, care_notes=body.care_notes,
    )  # fmt: skip
    return get_resident(body.id, request, conn, user)  # type: ignore[return-value]
