"""Caregivers, residents' service plans, one-off bookings and a station-day's tasks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request, status
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel

from devices.errors import NotFoundError
from dispatcher.generate import BookingSpec, ServicePlanSpec, add_booking, add_service_plan
from dispatcher.records import CaregiverSpec, upsert_caregiver
from web.api import audit
from web.api.deps import Conn, Staff, User, access_reason, client_ip
from web.api.models import problems
from web.api.routers.stations import check_station
from web.api.scope import resident_scope
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


def _resident(conn: Conn, user: Principal, resident_id: str) -> None:
    query = sql.SQL("SELECT 1 FROM resident r JOIN home h ON h.id = r.home_id WHERE r.id = %s AND {}").format(
        resident_scope(user)
    )
    if conn.execute(query, (resident_id,)).fetchone() is None:
        raise NotFoundError(f"no resident {resident_id!r}")


@router.get("/stations/{station_id}/caregivers", responses=problems(401, 403, 404))
def list_caregivers(station_id: str, conn: Conn, user: Staff) -> list[CaregiverRead]:
    """The station's caregivers with skills, shifts and travel mode."""
    check_station(conn, user, station_id)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT id, station_id, name, sex, skills, languages, travel_mode, shifts, break_minutes,"
            " max_work_minutes, active FROM caregiver WHERE station_id = %s ORDER BY id",
            (station_id,),
        ).fetchall()
    return [CaregiverRead(**r) for r in rows]


@router.put("/caregivers/{caregiver_id}", responses=problems(401, 403, 404, 422))
def put_caregiver(caregiver_id: str, body: CaregiverSpec, conn: Conn, user: Staff) -> CaregiverRead:
    """Add or update a caregiver of a station in scope (the path id must match the body's)."""
    if body.id != caregiver_id:
        raise NotFoundError(f"body id {body.id!r} is not {caregiver_id!r}")
    check_station(conn, user, body.station_id)
    with conn.transaction():
        upsert_caregiver(conn, body)
    return CaregiverRead(**body.model_dump(), active=True)


@router.get("/residents/{resident_id}/service-plans", responses=problems(401, 403, 404))
def list_service_plans(resident_id: str, conn: Conn, user: Staff) -> list[ServicePlanRead]:
    """A resident's recurring services."""
    _resident(conn, user, resident_id)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT id, resident_id, active, spec FROM service_plan WHERE resident_id = %s ORDER BY id",
            (resident_id,),
        ).fetchall()
    return [ServicePlanRead(**r) for r in rows]


@router.put("/residents/{resident_id}/service-plans/{plan_id}", responses=problems(401, 403, 404, 422))
def put_service_plan(
    resident_id: str, plan_id: str, body: ServicePlanSpec, conn: Conn, user: Staff
) -> ServicePlanRead:
    """Add or replace one of a resident's recurring services (e.g. lunch daily 11:00–12:30)."""
    _resident(conn, user, resident_id)
    spec = body.model_dump(mode="json")
    with conn.transaction():
        add_service_plan(conn, plan_id, resident_id, spec)
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
    audit.record(
        conn, principal=user, action="read", resource="tasks", resident_ids=[resident_id],
        reason=access_reason(request, "resident's services"), ip=client_ip(request),
    )  # fmt: skip
    return [TaskRead(**r) for r in rows]


@router.get("/stations/{station_id}/tasks", responses=problems(401, 403, 404))
def station_tasks(station_id: str, conn: Conn, user: Staff, day: date) -> list[TaskRead]:
    """A station-day's tasks with their status (planned, started, done …)."""
    check_station(conn, user, station_id)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM task WHERE station_id = %s AND day = %s ORDER BY window_start, id",
            (station_id, day),
        ).fetchall()
    return [TaskRead(**r) for r in rows]
