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
from dispatcher.records import DAY_MINUTES, DEFAULT_TZ, Horizon, load_problem, task, task_row
from dispatcher.scheduling import inprogress
from dispatcher.scheduling.problem import Plan, Problem
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
    now: datetime | None = None,
) -> StoredPlan:
    """Generate the day's tasks from service plans, solve what is left of the station-day, store the next version.

    Visits started or done are kept as they happened and urgent jobs already sent stay where they are
    (``inprogress.py``); with ``now`` only what is ahead of it is planned (windows that have passed are reported).
    The solve runs outside any lock, so an urgent insertion is never held up by it: the save re-reads under
    the station-day lock, keeps what started meanwhile, and hands back to the planner (pending + NOTIFY) an
    urgent job placed meanwhile that this plan does not hold.
    """
    say = progress or (lambda _msg: None)
    horizon = Horizon(day)
    clock = now or datetime.now(DEFAULT_TZ)
    minute = None if now is None else min(max(horizon.minute(now), 0), DAY_MINUTES)
    with conn.transaction():
        added = generate_tasks(conn, station_id, horizon)
        say(f"tasks generated: {added} new")
        plan_store.lock(conn, station_id, day)  # a consistent view of the current plan and the task states
        full, kept, urgent = _day_state(conn, station_id, horizon, clock)
    problem, passed = inprogress.ahead(full, kept, minute)
    problem = problem.model_copy(update={"tasks": tuple(t for t in problem.tasks if t.id not in urgent)})
    if kept:
        say(f"keeping {len(kept)} visits started, done or already sent")
    say(f"solving {len(problem.tasks)} tasks for {len(problem.caregivers)} caregivers (≤ {time_limit_s:g} s)")
    solved = solve(problem, time_limit_s=time_limit_s, travel=travel)
    solved = solved.model_copy(update={"unassigned": (*passed, *solved.unassigned)})
    say(f"solved: {solved.status.value}, {sum(len(r.visits) for r in solved.routes)} visits, "
        f"{len(solved.unassigned)} unassigned")  # fmt: skip
    with conn.transaction():
        plan_store.lock(conn, station_id, day)
        full, fresh, urgent_now = _day_state(conn, station_id, horizon, clock)
        sent = {k.task_id for k in kept if k.task_id in urgent}
        # what started or finished since the read replaces the solver's guess; an urgent job placed meanwhile
        # is not in this plan, so save() puts it back to pending for the planner
        keep = [k for k in fresh if k.task_id not in urgent_now or k.task_id in sent]
        plan = inprogress.with_history(solved, keep, full)
        return plan_store.save(conn, station_id, horizon, plan, reason="plan")


def _day_state(
    conn: psycopg.Connection[Any], station_id: str, horizon: Horizon, clock: datetime
) -> tuple[Problem, list[inprogress.Kept], set[str]]:
    """The station-day's problem (open and finished tasks, urgent jobs not yet placed left out), the visits
    to keep as they are, and the ids of all open urgent tasks."""
    full = load_problem(conn, station_id, horizon, statuses=("pending", "planned", "started", "done"))
    stored = plan_store.current(conn, station_id, horizon.day)
    kept = history(conn, station_id, horizon, clock, stored.plan if stored else None)
    urgent = {
        str(r[0]): r[1]
        for r in conn.execute(
            "SELECT id, status FROM task WHERE station_id = %s AND day = %s AND urgent"
            " AND status IN ('pending', 'planned')",
            (station_id, horizon.day),
        )
    }
    if stored is not None:  # an urgent job already sent stays with whoever has it, where it is
        placed = _holders(stored.plan)
        for r in stored.plan.routes:
            for v in r.visits:
                if urgent.get(v.task_id) == "planned" and r.caregiver_id == placed[v.task_id][0]:
                    kept.append(inprogress.Kept(v.task_id, tuple(placed[v.task_id]), v.start, v.end))
    in_plan = {k.task_id for k in kept}
    tasks = tuple(t for t in full.tasks if t.id not in urgent or t.id in in_plan)
    return full.model_copy(update={"tasks": tasks}), kept, set(urgent)


def _holders(plan: Plan) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in plan.routes:
        for v in r.visits:
            out.setdefault(v.task_id, []).append(r.caregiver_id)
    return out


HISTORY = """
SELECT t.id, t.status, t.started_at, t.done_at, t.done_by, t.duration_min,
       (SELECT a.caregiver_id FROM visit_action a WHERE a.task_id = t.id AND a.action = 'check-in'
        ORDER BY a.at, a.client_action_id LIMIT 1) AS checked_in_by
FROM task t WHERE t.station_id = %s AND t.day = %s AND t.status IN ('started', 'done') ORDER BY t.id
"""


def history(
    conn: psycopg.Connection[Any], station_id: str, horizon: Horizon, clock: datetime, current: Plan | None
) -> list[inprogress.Kept]:
    """The station-day's visits started or done, as they happened: who checked in (with the partner the
    current plan gave them on a double-handed visit), the real start, and the real end (a visit still going
    on ends at the later of its expected end and ``clock``)."""
    placed = _holders(current) if current else {}
    out: list[inprogress.Kept] = []
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(HISTORY, (station_id, horizon.day)).fetchall():
            task_id = str(row["id"])
            holders = placed.get(task_id, [])
            who = row["checked_in_by"] or row["done_by"]
            if who is None and not holders:
                continue  # finished outside any plan and by nobody known: nothing to show on a route
            carers = tuple(holders) if not who or (who in holders and len(holders) == 2) else (who,)
            began = row["started_at"] or row["done_at"]
            if began is None:
                continue
            start = horizon.minute(began)
            if row["done_at"] is not None:
                end = max(start, horizon.minute(row["done_at"]))
            else:
                end = max(start + row["duration_min"], horizon.minute(clock))
            out.append(inprogress.Kept(task_id, carers, start, end))
    return out


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

    Read, repair and save hold the station-day lock (a repair takes a second or two). Visits started or done
    are kept as they happened and never handed to the repair. Without a current plan the task is placed into
    an empty plan of the day's caregivers.
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
        kept = history(conn, station_id, horizon, now, stored.plan if stored else None)
        full = _with_tasks(conn, station_id, horizon, base.problem, {k.task_id for k in kept})
        new, diff = replan(
            inprogress.strip(base, kept), task(row, horizon), now, time_limit_s=time_limit_s, travel=travel,
            caregiver_id=row["preferred_caregiver"], exclude=frozenset(row["declined_by"]),
        )  # fmt: skip
        new = inprogress.with_history(new, kept, full)
        return plan_store.save(conn, station_id, horizon, new, reason=f"replan:{task_id}", diff=diff)


def _with_tasks(
    conn: psycopg.Connection[Any], station_id: str, horizon: Horizon, problem: Problem, ids: set[str]
) -> Problem:
    """``problem`` with the tasks ``ids`` it lacks (e.g. visits done that an older plan did not hold)."""
    lacking = ids - {t.id for t in problem.tasks}
    if not lacking:
        return problem
    more = load_problem(conn, station_id, horizon, statuses=("started", "done"))
    return problem.model_copy(update={"tasks": (*problem.tasks, *(t for t in more.tasks if t.id in lacking))})


def unplaced_urgent(conn: psycopg.Connection[Any], day: date) -> list[int]:
    """Urgent tasks of ``day`` marked planned that no current plan holds (should never be found: ``save``
    keeps the two in step; the planner may re-scan with this and put them back to pending)."""
    rows = conn.execute(
        """WITH cur AS (SELECT DISTINCT ON (station_id, day) id FROM plan WHERE day = %(day)s
                        ORDER BY station_id, day, version DESC)
           SELECT t.id FROM task t WHERE t.urgent AND t.status = 'planned' AND t.day = %(day)s
             AND NOT EXISTS (SELECT 1 FROM visit v WHERE v.task_id = t.id AND v.plan_id IN (SELECT id FROM cur))
           ORDER BY t.id""",
        {"day": day},
    ).fetchall()
    return [r[0] for r in rows]


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
