"""Visits and plans: the caregiver's day (``/my/visits``, check-in / check-out) and a station-day's plan for staff."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field

from devices.errors import NotFoundError, PermissionDenied
from dispatcher import plan_store, service
from dispatcher.records import DEFAULT_TZ
from dispatcher.visits import Action, VisitAction, record, visits_for_caregiver
from web.api import audit
from web.api.deps import Conn, Staff, User, access_reason, client_ip, now
from web.api.models import problems
from web.api.routers.stations import check_station
from web.api.scope import station_scope
from web.auth.principal import Principal

router = APIRouter(tags=["visits and plans"])


class MyVisit(BaseModel):
    task_id: str
    kind: str
    planned_start: datetime
    planned_end: datetime
    status: str
    urgent: bool
    partner: str | None
    home_id: str
    resident_id: str | None
    resident_name: str | None
    address: str
    access_notes: str
    care_notes: str
    lat: float
    lon: float
    alert_id: int | None
    notes: str
    problem: bool
    accepted: bool


class VisitState(BaseModel):
    task_id: str
    status: str
    started_at: datetime | None
    done_at: datetime | None
    problem: bool
    replay: bool = Field(description="true when this client_action_id had already been applied")


class PlanRead(BaseModel):
    station_id: str
    day: date
    version: int
    reason: str
    body: dict[str, Any]
    diff: dict[str, Any] | None = None


def _read(conn: Conn, station_id: str, day: date, stored: plan_store.StoredPlan) -> PlanRead:
    row = conn.execute("SELECT reason, diff FROM plan WHERE id = %s", (stored.id,)).fetchone()
    assert row is not None
    return PlanRead(station_id=station_id, day=day, version=stored.version, reason=row[0], diff=row[1],
                    body=stored.plan.model_dump(mode="json"))  # fmt: skip


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: date
    time_limit_s: float = Field(default=10.0, gt=0, le=120)


def _caregiver(user: Principal) -> str:
    if user.caregiver_id is None:
        raise PermissionDenied("only caregivers have visits", code="not_a_caregiver")
    return user.caregiver_id


def _today(request: Request) -> date:
    return now(request).astimezone(DEFAULT_TZ).date()


@router.get("/my/visits", responses=problems(401, 403))
def my_visits(request: Request, conn: Conn, user: User, day: date | None = None) -> list[MyVisit]:
    """The caller's visits of a day (default today), in order, with what they need at the door."""
    rows = visits_for_caregiver(conn, _caregiver(user), day or _today(request))
    audit.record(
        conn, principal=user, action="read", resource="visits",
        resident_ids=sorted({r["resident_id"] for r in rows if r["resident_id"]}),
        reason=access_reason(request, "caregiver route"), ip=client_ip(request),
    )  # fmt: skip
    return [MyVisit(**r) for r in rows]


def _act(
    request: Request, conn: Conn, user: Principal, task_id: int, action: Action, body: VisitAction
) -> VisitState:
    state = record(conn, _caregiver(user), task_id, action, body, now(request))
    return VisitState(**state)


@router.post("/my/visits/{task_id}/check-in", responses=problems(401, 403, 404, 409, 422))
def check_in(task_id: int, body: VisitAction, request: Request, conn: Conn, user: User) -> VisitState:
    """Start a visit (applied once per ``client_action_id``: the phone's offline queue may resend it)."""
    return _act(request, conn, user, task_id, "check-in", body)


@router.post("/my/visits/{task_id}/check-out", responses=problems(401, 403, 404, 409, 422))
def check_out(task_id: int, body: VisitAction, request: Request, conn: Conn, user: User) -> VisitState:
    """Finish a visit with notes and a problem flag (once per ``client_action_id``)."""
    return _act(request, conn, user, task_id, "check-out", body)


@router.post("/my/visits/{task_id}/accept", responses=problems(401, 403, 404, 409, 422))
def accept(task_id: int, body: VisitAction, request: Request, conn: Conn, user: User) -> VisitState:
    """Accept an urgent job pushed to the phone (staff see it on the board)."""
    return _act(request, conn, user, task_id, "accept", body)


@router.post("/my/visits/{task_id}/decline", responses=problems(401, 403, 404, 409, 422))
def decline(task_id: int, body: VisitAction, request: Request, conn: Conn, user: User) -> VisitState:
    """Decline an urgent job: the planner sends the next nearest suitable caregiver instead."""
    return _act(request, conn, user, task_id, "decline", body)


@router.get("/stations/{station_id}/plan", responses=problems(401, 403, 404))
def get_plan(
    station_id: str, request: Request, conn: Conn, user: Staff, day: Annotated[date | None, Query()] = None
) -> PlanRead:
    """The current plan of a station-day: routes, visits, breaks and unassigned tasks with reasons."""
    check_station(conn, user, station_id)
    the_day = day or _today(request)
    stored = plan_store.current(conn, station_id, the_day)
    if stored is None:
        raise NotFoundError(f"no plan for {station_id} on {the_day}")
    return _read(conn, station_id, the_day, stored)


@router.post("/stations/{station_id}/plan", responses=problems(401, 403, 404, 422))
def make_plan(station_id: str, body: PlanRequest, conn: Conn, user: Staff) -> PlanRead:
    """Generate the day's tasks and solve the station-day (a new version; the old ones are kept)."""
    check_station(conn, user, station_id)
    stored = service.plan_day(conn, station_id, body.day, time_limit_s=body.time_limit_s)
    return _read(conn, station_id, body.day, stored)


class RouteLine(BaseModel):
    caregiver_id: str
    station_id: str
    points: list[tuple[float, float]]  # station, the visits in order, station
    at: tuple[float, float] | None  # where they last checked in or out today


POSITIONS = """
SELECT DISTINCT ON (a.caregiver_id) a.caregiver_id, coalesce(a.lat, h.lat), coalesce(a.lon, h.lon)
FROM visit_action a JOIN task t ON t.id = a.task_id JOIN home h ON h.id = t.home_id
WHERE t.day = %s AND a.action IN ('check-in', 'check-out') AND a.caregiver_id = ANY(%s)
ORDER BY a.caregiver_id, a.at DESC
"""


@router.get("/map/routes", responses=problems(401, 403))
def routes(request: Request, conn: Conn, user: Staff, day: date | None = None) -> list[RouteLine]:
    """Today's planned route of every caregiver of the stations in scope, and where each one last was."""
    the_day = day or _today(request)
    stations = conn.execute(
        sql.SQL("SELECT s.id FROM station s WHERE {} ORDER BY s.id").format(station_scope(user))
    )
    out: list[RouteLine] = []
    for (station_id,) in stations.fetchall():
        stored = plan_store.current(conn, station_id, the_day)
        if stored is None:
            continue
        problem = stored.plan.problem
        home = (problem.stations[0].lat, problem.stations[0].lon)
        where = {t.id: (t.lat, t.lon) for t in problem.tasks}
        for r in stored.plan.routes:
            if r.visits:
                stops = [where[v.task_id] for v in r.visits if v.task_id in where]
                out.append(RouteLine(caregiver_id=r.caregiver_id, station_id=station_id,
                                     points=[home, *stops, home], at=None))  # fmt: skip
    seen = {
        row[0]: (row[1], row[2]) for row in conn.execute(POSITIONS, (the_day, [r.caregiver_id for r in out]))
    }
    return [r.model_copy(update={"at": seen.get(r.caregiver_id)}) for r in out]
