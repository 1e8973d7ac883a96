"""Dispatch service: plan a station-day, create urgent tasks from alerts, re-plan around them, suggest caregivers.

Each function takes a connection and leaves transaction boundaries to the caller, except ``plan_day`` and
``replan_for_task``, which commit their own (the solve runs between reading and saving).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from devices.errors import NotFoundError
from devices.types import TravelMode
from dispatcher import plan_store
from dispatcher.errors import InvalidProblem
from dispatcher.generate import generate_tasks
from dispatcher.plan_store import StoredPlan
from dispatcher.records import DEFAULT_TZ, Horizon, load_problem, task, task_row
from dispatcher.scheduling.problem import Plan
from dispatcher.scheduling.replan import replan
from dispatcher.scheduling.solve import solve
from dispatcher.scheduling.spec import SolveStatus
from dispatcher.travel import HaversineProvider, TravelTimeProvider
from monitor import live

URGENT_DURATION_MIN = 30
URGENT_WINDOW = timedelta(hours=2)
URGENT_CHANNEL = "urgent_task"

Progress = Callable[[str], None]


def plan_day(
    conn: psycopg.Connection[Any],
    station_id: str,
    day: date,
    *,
    time_limit_s: float = 10.0,
    travel: TravelTimeProvider | None = None,
    progress: Progress | None = None,
) -> StoredPlan:
    """Generate the day's tasks from service plans, solve the station-day and store it as the next version."""
    say = progress or (lambda _msg: None)
    horizon = Horizon(day)
    with conn.transaction():
        added = generate_tasks(conn, station_id, horizon)
        say(f"tasks generated: {added} new")
        problem = load_problem(conn, station_id, horizon)
    say(f"solving {len(problem.tasks)} tasks for {len(problem.caregivers)} caregivers (≤ {time_limit_s:g} s)")
    plan = solve(problem, time_limit_s=time_limit_s, travel=travel)
    say(f"solved: {plan.status.value}, {sum(len(r.visits) for r in plan.routes)} visits, "
        f"{len(plan.unassigned)} unassigned")  # fmt: skip
    with conn.transaction():  # save() takes the station-day lock itself
        # tasks started or done since we read them keep their state; save() only moves pending -> planned
        return plan_store.save(conn, station_id, horizon, plan, reason="plan")


def create_urgent_task(
    conn: psycopg.Connection[Any],
    *,
    home_id: str,
    alert_id: int,
    now: datetime,
    caregiver_id: str | None = None,
) -> int:
    """The urgent task answering an alert (one per alert and day; re-assigning updates it); returns its id.

    The planner process is woken by ``NOTIFY urgent_task`` when the caller's transaction commits.
    """
    if now.tzinfo is None:
        raise InvalidProblem("'now' must be timezone-aware")
    row = conn.execute("SELECT station_id FROM home WHERE id = %s", (home_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no home {home_id!r}")
    station_id = row[0]
    if station_id is None:
        raise InvalidProblem(f"home {home_id} belongs to no station: nobody can be sent")
    day = now.astimezone(DEFAULT_TZ).date()
    task_id, status = conn.execute(
        """INSERT INTO task (station_id, home_id, day, kind, duration_min, window_start, window_end, priority,
                             preferred_caregiver, urgent, source, source_id, alert_id)
           VALUES (%s, %s, %s, 'emergency', %s, %s, %s, 5, %s, true, 'alert', %s, %s)
           ON CONFLICT (source, source_id, day) DO UPDATE SET
             preferred_caregiver = EXCLUDED.preferred_caregiver,
             status = CASE WHEN task.status = 'planned'
                            AND task.preferred_caregiver IS DISTINCT FROM EXCLUDED.preferred_caregiver
                           THEN 'pending' ELSE task.status END,
             replanned_at = NULL
           RETURNING id, status""",
        (station_id, home_id, day, URGENT_DURATION_MIN, now, now + URGENT_WINDOW, caregiver_id, str(alert_id),
         alert_id),
    ).fetchone()  # type: ignore[misc]  # fmt: skip
    conn.execute("SELECT pg_notify(%s, %s)", (URGENT_CHANNEL, str(task_id)))
    live.publish(
        conn, topic="task", subject_id=str(task_id), station_id=station_id, home_id=home_id,
        body={"task_id": task_id, "kind": "emergency", "urgent": True, "status": status, "alert_id": alert_id,
              "caregiver_id": caregiver_id},
    )  # fmt: skip
    return int(task_id)


def _without(plan: Plan, task_id: str) -> Plan:
    """The plan with one task taken out (its visits and the task itself), e.g. before re-assigning it."""
    routes = tuple(
        r.model_copy(update={"visits": tuple(v for v in r.visits if v.task_id != task_id)})
        for r in plan.routes
    )
    problem = plan.problem.model_copy(
        update={"tasks": tuple(t for t in plan.problem.tasks if t.id != task_id)}
    )
    return plan.model_copy(update={"routes": routes, "problem": problem})


def replan_for_task(
    conn: psycopg.Connection[Any],
    task_id: int,
    now: datetime,
    *,
    time_limit_s: float = 2.0,
    travel: TravelTimeProvider | None = None,
) -> StoredPlan | None:
    """Insert a pending task into its station-day's current plan (a new version); None if it is not pending.

    Without a current plan the task is placed into an empty plan of the day's caregivers.
    """
    with conn.transaction():
        row = task_row(conn, task_id)
        station_id, horizon = row["station_id"], Horizon(row["day"])
        plan_store.lock(conn, station_id, horizon.day)
        row = task_row(conn, task_id)  # re-read under the lock: another planner may have placed it
        if row["status"] != "pending":
            return None
        conn.execute("UPDATE task SET replanned_at = now() WHERE id = %s", (task_id,))
        stored = plan_store.current(conn, station_id, horizon.day)
        if stored is None:
            base = Plan(
                status=SolveStatus.FEASIBLE,
                problem=load_problem(conn, station_id, horizon, exclude=[task_id]),
            )
        else:
            base = _without(stored.plan, str(task_id))
        new, diff = replan(
            base, task(row, horizon), now, time_limit_s=time_limit_s, travel=travel,
            caregiver_id=row["preferred_caregiver"], exclude=frozenset(row["declined_by"]),
        )  # fmt: skip
        return plan_store.save(conn, station_id, horizon, new, reason=f"replan:{task_id}", diff=diff)


def pending_urgent(conn: psycopg.Connection[Any], day: date) -> list[int]:
    """Urgent tasks of ``day`` the planner has not tried since they were created, re-assigned or declined
    (it catches up on these at start; one it could not place stays pending with its reason in the plan)."""
    rows = conn.execute(
        "SELECT id FROM task WHERE urgent AND status = 'pending' AND replanned_at IS NULL AND day = %s ORDER BY id",
        (day,),
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True, slots=True)
class Suggestion:
    caregiver_id: str
    name: str
    eta_min: float | None
    reason: str


def _shift_left(shifts: list[dict[str, str]], local: datetime) -> float:
    """Minutes left in the shift the caregiver is on at ``local`` (0 when off shift)."""
    clock = local.strftime("%H:%M")
    for s in shifts:
        if s["start"] <= clock < s["end"]:
            end = local.replace(hour=int(s["end"][:2]), minute=int(s["end"][3:5]), second=0, microsecond=0)
            return (end - local).total_seconds() / 60
    return 0.0


def suggest_caregivers(
    conn: psycopg.Connection[Any],
    *,
    home_id: str,
    now: datetime,
    limit: int = 3,
    travel: TravelTimeProvider | None = None,
) -> list[Suggestion]:
    """Active caregivers of the home's station who can get there, do an urgent job and be back within their
    current shift, nearest first (from where they are: the home of a visit they started today, else the
    station)."""
    provider = travel or HaversineProvider()
    local = now.astimezone(DEFAULT_TZ)
    with conn.cursor(row_factory=dict_row) as cur:
        home = cur.execute(
            "SELECT h.lat, h.lon, h.station_id, s.lat AS s_lat, s.lon AS s_lon FROM home h"
            " LEFT JOIN station s ON s.id = h.station_id WHERE h.id = %s",
            (home_id,),
        ).fetchone()
        if home is None:
            raise NotFoundError(f"no home {home_id!r}")
        if home["station_id"] is None:
            return []
        carers = cur.execute(
            """SELECT c.id, c.name, c.shifts, c.travel_mode, w.home_id AS at_home, w.lat, w.lon
               FROM caregiver c
               LEFT JOIN LATERAL (
                   SELECT t.home_id, h.lat, h.lon FROM task t JOIN home h ON h.id = t.home_id
                   WHERE t.status = 'started' AND t.day = %s AND t.done_by IS NULL
                     AND t.id IN (SELECT task_id FROM visit_action WHERE caregiver_id = c.id AND action = 'check-in')
                   ORDER BY t.started_at DESC LIMIT 1) w ON true
               WHERE c.station_id = %s AND c.active ORDER BY c.id""",
            (local.date(), home["station_id"]),
        ).fetchall()
    found: list[Suggestion] = []
    for c in carers:
        left = _shift_left(c["shifts"], local)
        if left <= 0:
            continue
        if c["at_home"] is not None:
            origin, where = (c["lat"], c["lon"]), f"from visit at {c['at_home']}"
        else:
            origin, where = (home["s_lat"], home["s_lon"]), "from the station"
        mode = TravelMode(c["travel_mode"])
        minutes = provider.table([origin], [(home["lat"], home["lon"])], mode)[0][0]
        back = provider.table([(home["lat"], home["lon"])], [(home["s_lat"], home["s_lon"])], mode)[0][0]
        if (
            minutes + URGENT_DURATION_MIN + back > left
        ):  # could not do the job and be back before the shift ends
            continue
        found.append(
            Suggestion(c["id"], c["name"], float(minutes), f"{where}, {TravelMode(c['travel_mode']).value}")
        )
    found.sort(key=lambda s: (s.eta_min if s.eta_min is not None else 1e9, s.caregiver_id))
    return found[:limit]
