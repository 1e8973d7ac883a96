"""Caregivers, residents' service plans, one-off bookings and a station-day's tasks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request, status
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel

from devices.errors import ConflictError, NotFoundError
from dispatcher.generate import BookingSpec, ServicePlanSpec, add_booking, add_service_plan
from dispatcher.records import CaregiverSpec, upsert_caregiver
from web.api import audit
from web.api.deps import Conn, Staff, User
from web.api.models import problems
from web.api.routers.stations import check_station
from web.api.scope import in_station_scope, resident_scope
from web.auth.principal import Principal

router = APIRouter(tags=["services"])


class CaregiverRead(CaregiverSpec):
    active: bool


class ServicePlanRead(BaseModel):
    id: str
    resident_id: str
    active: bool
    spec: dict[str, Any]


class TaskRead(BaseModel):
    id: int
    station_id: str
    home_id: str
    day: date
    kind: str
    duration_min: int
    window_start: datetime
    window_end: datetime
    priority: int
    urgent: bool
    source: str
    status: str
    started_at: datetime | None
    done_at: datetime | None
    done_by: str | None
    problem: bool


class BookingCreated(BaseModel):
    task_id: int


def _in_scope(conn: Conn, user: Principal, resident_id: str) -> bool:
    query = sql.SQL("SELECT 1 FROM resident r JOIN home h ON h.id = r.home_id WHERE r.id = %s AND {}").format(
        resident_scope(user)
    )
    return conn.execute(query, (resident_id,)).fetchone() is not None


def _resident(conn: Conn, user: Principal, resident_id: str) -> None:
    if not _in_scope(conn, user, resident_id):
        raise NotFoundError(f"no resident {resident_id!r}")


@router.get("/stations/{station_id}/caregivers", responses=problems(401, 403, 404))
def list_caregivers(station_id: str, request: Request, conn: Conn, user: Staff) -> list[CaregiverRead]:
    """The station's caregivers with skills, shifts and travel mode."""
    check_station(conn, user, station_id)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT id, station_id, name, sex, skills, languages, travel_mode, shifts, break_minutes,"
            " max_work_minutes, active FROM caregiver WHERE station_id = %s ORDER BY id",
            (station_id,),
        ).fetchall()
    audit.read(request, conn, user, f"station/{station_id}/caregivers", [], "caregiver list")
    return [CaregiverRead(**r) for r in rows]


@router.put("/caregivers/{caregiver_id}", responses=problems(401, 403, 404, 409, 422))
def put_caregiver(
    caregiver_id: str, body: CaregiverSpec, request: Request, conn: Conn, user: Staff
) -> CaregiverRead:
    """Add or update a caregiver of a station in scope (the path id must match the body's).

    An existing caregiver of a station outside the caller's scope is 404 and left untouched; caregivers never
    move between stations (409)."""
    if body.id != caregiver_id:
        raise NotFoundError(f"body id {body.id!r} is not {caregiver_id!r}")
    with conn.transaction():
        existing = conn.execute(
            "SELECT station_id, active FROM caregiver WHERE id = %s FOR UPDATE", (caregiver_id,)
        ).fetchone()
        if existing is not None and not in_station_scope(conn, user, existing[0]):
            raise NotFoundError(f"no caregiver {caregiver_id!r}")
        check_station(conn, user, body.station_id)
        if existing is not None and existing[0] != body.station_id:
            raise ConflictError(
                f"caregiver {caregiver_id!r} is at station {existing[0]!r}; caregivers do not move between "
                "stations", code="other_station",
            )  # fmt: skip
        upsert_caregiver(conn, body)
    audit.read(request, conn, user, f"caregiver/{caregiver_id}", [], "caregiver saved", action="write")
    return CaregiverRead(**body.model_dump(), active=True if existing is None else existing[1])


@router.get("/residents/{resident_id}/service-plans", responses=problems(401, 403, 404))
def list_service_plans(resident_id: str, request: Request, conn: Conn, user: Staff) -> list[ServicePlanRead]:
    """A resident's recurring services (audited)."""
    _resident(conn, user, resident_id)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT id, resident_id, active, spec FROM service_plan WHERE resident_id = %s ORDER BY id",
            (resident_id,),
        ).fetchall()
    audit.read(request, conn, user, f"resident/{resident_id}/service-plans", [resident_id], "service plans")
    return [ServicePlanRead(**r) for r in rows]


@router.put("/residents/{resident_id}/service-plans/{plan_id}", responses=problems(401, 403, 404, 409, 422))
def put_service_plan(
    resident_id: str, plan_id: str, body: ServicePlanSpec, request: Request, conn: Conn, user: Staff
) -> ServicePlanRead:
    """Add or replace one of a resident's recurring services (e.g. lunch daily 11:00–12:30).

    A plan id of a resident outside the caller's scope is 404 and left untouched; a plan never changes
    resident (409)."""
    spec = body.model_dump(mode="json")
    with conn.transaction():
        _resident(conn, user, resident_id)
        existing = conn.execute(
            "SELECT resident_id FROM service_plan WHERE id = %s FOR UPDATE", (plan_id,)
        ).fetchone()
        if existing is not None and existing[0] != resident_id:
            if not _in_scope(conn, user, existing[0]):
                raise NotFoundError(f"no service plan {plan_id!r}")
            raise ConflictError(
                f"service plan {plan_id!r} belongs to another resident", code="other_resident"
            )
        add_service_plan(conn, plan_id, resident_id, spec)
    audit.read(
        request, conn, user, f"resident/{resident_id}/service-plans/{plan_id}", [resident_id],
        "service plan saved", action="write",
    )  # fmt: skip
    return ServicePlanRead(id=plan_id, resident_id=resident_id, active=True, spec=spec)


@router.post("/bookings", status_code=status.HTTP_201_CREATED, responses=problems(401, 403, 404, 422))
def book(body: BookingSpec, conn: Conn, user: User) -> BookingCreated:
    """Book a one-off service (housekeeping, an escort to the clinic …): family for their relative, staff for
    their stations. It becomes a pending task that the day's next plan schedules."""
    _resident(conn, user, body.resident_id)
    with conn.transaction():
        task_id = add_booking(conn, body, booked_by=f"{user.role.value}:{user.username}")
    return BookingCreated(task_id=task_id)


@router.get("/residents/{resident_id}/tasks", responses=problems(401, 403, 404))
def resident_tasks(resident_id: str, request: Request, conn: Conn, user: User) -> list[TaskRead]:
    """The resident's services of the last and next 14 days (family see their relative's visits)."""
    _resident(conn, user, resident_id)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT t.* FROM task t JOIN resident r ON r.home_id = t.home_id WHERE r.id = %s"
            " AND t.day BETWEEN current_date - 14 AND current_date + 14 ORDER BY t.window_start",
            (resident_id,),
        ).fetchall()
    audit.read(request, conn, user, "tasks", [resident_id], "resident's services")
    return [TaskRead(**r) for r in rows]


@router.get("/stations/{station_id}/tasks", responses=problems(401, 403, 404))
def station_tasks(station_id: str, request: Request, conn: Conn, user: Staff, day: date) -> list[TaskRead]:
    """A station-day's tasks with their status (planned, started, done …); audited against their residents."""
    check_station(conn, user, station_id)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM task WHERE station_id = %s AND day = %s ORDER BY window_start, id",
            (station_id, day),
        ).fetchall()
    residents = audit.residents_of_homes(conn, (r["home_id"] for r in rows))
    audit.read(request, conn, user, f"station/{station_id}/tasks/{day}", residents, "station tasks")
    return [TaskRead(**r) for r in rows]
