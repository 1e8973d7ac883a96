"""Visits and plans: the caregiver's day (``/my/visits``, check-in / check-out) and a station-day's plan for staff."""

from __future__ import annotations

import threading
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field

from devices.errors import ConflictError, EldercareError, NotFoundError, PermissionDenied
from dispatcher import plan_store
from dispatcher.errors import InvalidProblem
from dispatcher.records import DEFAULT_TZ
from dispatcher.visits import Action, VisitAction, record, visits_for_caregiver
from monitor import live
from web.api import audit
from web.api.deps import Conn, Staff, User, access_reason, client_ip, now
from web.api.models import problems
from web.api.plan_jobs import PlanJob, PlanJobs
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
    """The caller's visits of today (the stations' local day, Asia/Shanghai), in order, with what they need
    at the door: today's current plan and the visits they checked in on today.

    Door codes, names and care notes are given for today only: any other ``day`` is refused with 403
    (code ``not_today``) rather than an empty list, so a phone whose date is wrong says why."""
    caregiver_id, today = _caregiver(user), _today(request)
    if day is not None and day != today:
        raise PermissionDenied(
            f"caregivers see only today's visits ({today.isoformat()}), not {day.isoformat()}",
            code="not_today",
        )
    rows = visits_for_caregiver(conn, caregiver_id, today)
    audit.record(
        conn, principal=user, action="read", resource="visits",
        resident_ids=sorted({r["resident_id"] for r in rows if r["resident_id"]}),
        reason=access_reason(request, "caregiver route"), ip=client_ip(request),
    )  # fmt: skip
    return [MyVisit(**r) for r in rows]


def _act(
    request: Request, conn: Conn, user: Principal, task_id: int, action: Action, body: VisitAction
) -> VisitState:
    caregiver_id = _caregiver(user)
    try:
        state = record(conn, caregiver_id, task_id, action, body, now(request))
    except (NotFoundError, ConflictError, InvalidProblem) as exc:
        _rejected(conn, user, caregiver_id, task_id, action, body, exc)
        raise
    return VisitState(**state)


def _rejected(
    conn: Conn,
    user: Principal,
    caregiver_id: str,
    task_id: int,
    action: Action,
    body: VisitAction,
    exc: EldercareError,
) -> None:
    """Tell the station's staff that a phone action was refused (the phone shows it to the caregiver too):
    a ``task`` live event with ``action = rejected``, listed by ``GET /stations/{id}/rejected-actions``."""
    with conn.transaction():
        row = conn.execute("SELECT station_id, home_id FROM task WHERE id = %s", (task_id,)).fetchone()
        station_id = row[0] if row else (user.station_ids[0] if user.station_ids else None)
        live.publish(
            conn, topic="task", subject_id=str(task_id), station_id=station_id, home_id=row[1] if row else None,
            body={"task_id": task_id, "action": "rejected", "rejected_action": action, "caregiver_id": caregiver_id,
                  "code": exc.code, "reason": exc.message[:300], "client_action_id": body.client_action_id,
                  "at": body.at.isoformat() if body.at else None},
        )  # fmt: skip


class RejectedAction(BaseModel):
    at: datetime
    task_id: int
    action: str
    caregiver_id: str
    code: str
    reason: str
    client_action_id: str


@router.get("/stations/{station_id}/rejected-actions", responses=problems(401, 403, 404))
def rejected_actions(
    station_id: str, request: Request, conn: Conn, user: Staff, day: Annotated[date | None, Query()] = None
) -> list[RejectedAction]:
    """Check-ins and check-outs the server refused from caregivers' phones on a day (newest first): a visit
    moved by a re-plan (404), out of order (409), a phone clock running fast (422)."""
    check_station(conn, user, station_id)
    the_day = day or _today(request)
    rows = conn.execute(
        """SELECT at, (body->>'task_id')::bigint, body->>'rejected_action', body->>'caregiver_id', body->>'code',
                  body->>'reason', body->>'client_action_id'
           FROM live_event WHERE topic = 'task' AND station_id = %s AND body->>'action' = 'rejected'
             AND (at AT TIME ZONE 'Asia/Shanghai')::date = %s ORDER BY id DESC LIMIT 500""",
        (station_id, the_day),
    ).fetchall()
    return [
        RejectedAction(at=r[0], task_id=r[1], action=r[2], caregiver_id=r[3], code=r[4], reason=r[5],
                       client_action_id=r[6])
        for r in rows
    ]  # fmt: skip


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
    homes = audit.residents_of_homes(conn, (t.home_id for t in stored.plan.problem.tasks))
    audit.read(request, conn, user, f"station/{station_id}/plan/{the_day}", homes, "station plan")
    return _read(conn, station_id, the_day, stored)


class PlanJobRead(BaseModel):
    """A run-plan job: ``queued`` → ``running`` → ``done`` (with the version it stored) or ``failed``."""

    id: str
    station_id: str
    day: date
    state: str
    progress: list[str]
    version: int | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


_JOBS_LOCK = threading.Lock()


def _jobs(request: Request) -> PlanJobs:
    """The app's run-plan jobs (made on first use: sync endpoints run on several threads)."""
    with _JOBS_LOCK:
        jobs: PlanJobs | None = getattr(request.app.state, "plan_jobs", None)
        if jobs is None:
            jobs = request.app.state.plan_jobs = PlanJobs(
                request.app.state.settings.db().conninfo(), request.app.state.clock
            )
        return jobs


def _job_read(job: PlanJob) -> PlanJobRead:
    return PlanJobRead(
        id=job.id, station_id=job.station_id, day=job.day, state=job.state, progress=list(job.progress),
        version=job.version, error=job.error, started_at=job.started_at, finished_at=job.finished_at,
    )  # fmt: skip


@router.post("/stations/{station_id}/plan", status_code=202, responses=problems(401, 403, 404, 422))
def make_plan(station_id: str, body: PlanRequest, request: Request, conn: Conn, user: Staff) -> PlanJobRead:
    """Start planning the station-day in the background (202 with the job; poll it for progress and result).

    Tasks are generated from the service plans; visits started or done are kept as they happened and, for
    today, only what is still ahead is planned. The result is a new version (the old ones are kept).
    """
    check_station(conn, user, station_id)
    return _job_read(_jobs(request).start(station_id, body.day, body.time_limit_s, user.id))


@router.get("/stations/{station_id}/plan/jobs/{job_id}", responses=problems(401, 403, 404))
def plan_job(station_id: str, job_id: str, request: Request, conn: Conn, user: Staff) -> PlanJobRead:
    """A run-plan job's state, progress lines and the version it stored."""
    check_station(conn, user, station_id)
    job = _jobs(request).get(job_id)
    if job is None or job.station_id != station_id:
        raise NotFoundError(f"no plan job {job_id!r}")
    return _job_read(job)


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
    route_homes: set[str] = set()  # what the routes reveal: who is visited, in which order
    for (station_id,) in stations.fetchall():
        stored = plan_store.current(conn, station_id, the_day)
        if stored is None:
            continue
        problem = stored.plan.problem
        home = (problem.stations[0].lat, problem.stations[0].lon)
        where = {t.id: (t.lat, t.lon) for t in problem.tasks}
        home_of = {t.id: t.home_id for t in problem.tasks}
        for r in stored.plan.routes:
            route_homes.update(home_of[v.task_id] for v in r.visits if v.task_id in home_of)
            if r.visits:
                stops = [where[v.task_id] for v in r.visits if v.task_id in where]
                out.append(RouteLine(caregiver_id=r.caregiver_id, station_id=station_id,
                                     points=[home, *stops, home], at=None))  # fmt: skip
    seen = {
        row[0]: (row[1], row[2]) for row in conn.execute(POSITIONS, (the_day, [r.caregiver_id for r in out]))
    }
    residents = audit.residents_of_homes(conn, route_homes)
    audit.read(request, conn, user, f"map/routes/{the_day}", residents, "caregiver routes")
    return [r.model_copy(update={"at": seen.get(r.caregiver_id)}) for r in out]
