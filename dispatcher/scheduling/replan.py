"""Live re-planning: insert an urgent task into a running plan, keeping started visits and moving little else."""

from __future__ import annotations

import time
from datetime import datetime

from dispatcher.domain import Task
from dispatcher.errors import InvalidProblem
from dispatcher.scheduling.precheck import places, precheck
from dispatcher.scheduling.problem import Plan, PlanDiff, Problem, ReasonCode, Route, Unassigned, VisitMove
from dispatcher.scheduling.repair import Context, Repair, Target, repair
from dispatcher.scheduling.spec import SolveStatus
from dispatcher.travel import TravelTimeProvider

WIDEN = (0, 2, 6)  # extra caregivers (beyond the nearest) each successive attempt may use
URGENT_SLACK = 15  # first attempt: start at most this long after the nearest carer could arrive
REINSERT_GROUP = 4  # caregivers tried for visits bumped by the urgent task


def minutes_since_start(problem: Problem, now: datetime | int) -> int:
    """``now`` as integer minutes from the horizon start (ints pass through)."""
    if isinstance(now, int):
        return now
    if problem.horizon_start is None:
        raise InvalidProblem("a datetime 'now' needs problem.horizon_start")
    if now.tzinfo is None:
        raise InvalidProblem("'now' must be timezone-aware")
    return int((now - problem.horizon_start).total_seconds() // 60)


def replan(
    plan: Plan,
    urgent_task: Task,
    now: datetime | int,
    *,
    time_limit_s: float = 1.0,
    travel: TravelTimeProvider | None = None,
    caregiver_id: str | None = None,
    exclude: frozenset[str] = frozenset(),
) -> tuple[Plan, PlanDiff]:
    """Insert ``urgent_task`` into ``plan`` at ``now`` by repairing only the routes around it.

    Visits started before ``now`` keep their caregiver, order and time. The urgent task goes to the
    suitable caregiver(s) who can reach it first (re-solving only their routes); only if that fails are
    a few more caregivers tried. Visits it bumps are offered to a few other caregivers; what still does
    not fit is reported unassigned. Every other route is kept exactly as it was.

    Args:
        plan: The running plan (it carries its problem).
        urgent_task: The new task (its id must be new).
        now: Current time (aware datetime, or minutes from the horizon start).
        time_limit_s: Overall search budget (split over the attempts).
        travel: Travel-time provider (default: the planner's cached default).
        caregiver_id: Send this caregiver (chosen by staff) rather than the nearest suitable one.
        exclude: Caregivers who must not get the urgent task (e.g. they declined it).

    Returns:
        The new plan (version + 1) and the diff against the old one.
    """
    if time_limit_s <= 0:
        raise InvalidProblem("time_limit_s must be positive")
    began = time.perf_counter()
    old = plan.problem
    if any(t.id == urgent_task.id for t in old.tasks):
        raise InvalidProblem(f"task {urgent_task.id} is already in the plan")
    minute = minutes_since_start(old, now)
    problem = old.model_copy(update={"tasks": (*old.tasks, urgent_task)})
    fixed = frozenset(v.task_id for r in plan.routes for v in r.visits if v.start < minute)
    able, why = _who_can(problem, [urgent_task], minute, travel)
    if exclude and urgent_task.id in able:
        able, why = _without(problem, able, why, urgent_task.id, exclude)
    if caregiver_id is not None and urgent_task.id in able:
        able, why = _only(problem, able, why, urgent_task.id, caregiver_id)
    ctx = Context(plan, problem, able, fixed, minute, travel)
    routes = {r.caregiver_id: r for r in plan.routes}
    lost: list[Unassigned] = list(why)
    status, routing_status = SolveStatus.FEASIBLE, "unchanged"
    if urgent_task.id in able:
        done = _place_urgent(ctx, urgent_task, time_limit_s)
        if done is None:
            lost.append(_lost(urgent_task.id, ReasonCode.NO_SOLUTION, "no caregiver near enough has room"))
        else:
            routes |= done.routes
            routing_status = done.routing_status
            lost += _reinsert(ctx, routes, done, urgent_task.id, max(0.05, time_limit_s / 4))
    new = Plan(
        version=plan.version + 1,
        status=status,
        objective=plan.objective,
        solve_seconds=round(time.perf_counter() - began, 3),
        routes=_with_partners([routes.get(c.id) or _idle(c.id, c.day_start) for c in problem.caregivers]),
        unassigned=(*plan.unassigned, *lost),
        problem=problem,
        routing_status=routing_status,
    )
    return new, diff_plans(plan, new, urgent_task.id, set(fixed))


def _who_can(
    problem: Problem, tasks: list[Task], minute: int, travel: TravelTimeProvider | None
) -> tuple[dict[str, list[int]], list[Unassigned]]:
    """Pre-check only ``tasks`` (plus: a window that closes before ``minute`` cannot be met)."""
    small = problem.with_tasks(tuple(tasks))
    able, unable = precheck(small, places(small, travel))
    for task in tasks:
        if task.id in able and not any(max(w.start, minute) + task.duration <= w.end for w in task.windows):
            del able[task.id]
            why = f"every window closes before it could start at minute {minute}"
            unable.append(_lost(task.id, ReasonCode.WINDOW_PASSED, why))
    return able, unable


def _only(
    problem: Problem, able: dict[str, list[int]], why: list[Unassigned], task_id: str, caregiver_id: str
) -> tuple[dict[str, list[int]], list[Unassigned]]:
    """Restrict the urgent task to the chosen caregiver, or explain why they cannot take it."""
    index = next((i for i, c in enumerate(problem.caregivers) if c.id == caregiver_id), None)
    if index is not None and index in able[task_id]:
        return {**able, task_id: [index]}, why
    rest = {k: v for k, v in able.items() if k != task_id}
    reason = f"caregiver {caregiver_id} is not suitable for this task (skills, circle, shift)"
    return rest, [*why, _lost(task_id, ReasonCode.NO_SHIFT, reason)]


def _without(
    problem: Problem, able: dict[str, list[int]], why: list[Unassigned], task_id: str, exclude: frozenset[str]
) -> tuple[dict[str, list[int]], list[Unassigned]]:
    """Keep the excluded caregivers away from the urgent task, or explain that nobody else can take it."""
    left = [i for i in able[task_id] if problem.caregivers[i].id not in exclude]
    if left:
        return {**able, task_id: left}, why
    rest = {k: v for k, v in able.items() if k != task_id}
    reason = f"every suitable caregiver declined ({', '.join(sorted(exclude))})"
    return rest, [*why, _lost(task_id, ReasonCode.NO_SHIFT, reason)]


def _lost(task_id: str, code: ReasonCode, why: str) -> Unassigned:
    return Unassigned(task_id=task_id, code=code, reason=why)


def _idle(caregiver_id: str, at: int) -> Route:
    return Route(caregiver_id=caregiver_id, depart=at, back=at)


def _place_urgent(ctx: Context, task: Task, time_limit_s: float) -> Repair | None:
    """Try the nearest suitable caregiver(s) first, then a widening circle of the next nearest."""
    ranked = _nearest(ctx, task)
    k = task.carers
    if len(ranked) < k:
        return None
    pin: dict[str, int] = {}
    if k == 2:
        lo = max(ranked[k - 1][0], *(w.start for w in task.windows[:1]))
        if any(w.start <= lo and lo + task.duration <= w.end for w in task.windows):
            pin = {task.id: lo}
    for extra in WIDEN:
        group = [i for _, i in ranked[: k + extra]]
        end = ranked[0][0] + URGENT_SLACK if extra == 0 else None
        target = Target(tasks=(task.id,), pin=pin, window_end=end, urgent=frozenset({task.id}))
        done = repair(ctx, group, target, time_limit_s=time_limit_s / len(WIDEN))
        if done is not None and task.id not in done.dropped:
            return done
        if k + extra >= len(ranked):
            break
    return None


def _reinsert(
    ctx: Context, routes: dict[str, Route], done: Repair, urgent_id: str, time_limit_s: float
) -> list[Unassigned]:
    """Offer visits bumped by the urgent task to the least busy other suitable caregivers."""
    bumped = [t for t in done.dropped if t != urgent_id]
    if not bumped:
        return []
    able, _ = _who_can(ctx.problem, [ctx.problem.task(t) for t in bumped], ctx.minute, ctx.travel)
    busy = {cid: sum(v.end - v.start for v in r.visits) for cid, r in routes.items()}
    cgs = ctx.problem.caregivers
    others = sorted(
        {i for t in bumped for i in able.get(t, []) if cgs[i].id not in done.routes},
        key=lambda i: (busy.get(cgs[i].id, 0), i),
    )[:REINSERT_GROUP]
    again = None
    if others:
        sub = Context(ctx.plan, ctx.problem, able | ctx.able, ctx.fixed, ctx.minute, ctx.travel)
        again = repair(sub, others, Target(tasks=tuple(bumped), keep_planned=True), time_limit_s=time_limit_s)
    if again is not None:
        routes |= again.routes
    left = (
        set(bumped)
        if again is None
        else set(again.dropped) | (set(bumped) - {v.task_id for r in again.routes.values() for v in r.visits})
    )
    why = f"bumped by urgent task {urgent_id}; no other suitable caregiver had room"
    return [_lost(t, ReasonCode.DROPPED, why) for t in sorted(left)]


def _nearest(ctx: Context, task: Task) -> list[tuple[int, int]]:
    """(earliest arrival, caregiver index) of suitable caregivers, from where each is at ``minute``."""
    problem, plan, minute = ctx.problem, ctx.plan, ctx.minute
    last: dict[int, tuple[Task | None, int]] = {}
    for i in ctx.able.get(task.id, []):
        c = problem.caregivers[i]
        route = plan.route_of(c.id)
        done = [v for v in (route.visits if route else ()) if v.start < minute]
        if c.day_end > minute:
            prev = problem.task(done[-1].task_id) if done else None
            last[i] = (prev, max(minute, done[-1].end if done else c.day_start))
    spots = problem.model_copy(update={"tasks": (task, *{t.id: t for t, _ in last.values() if t}.values())})
    where = places(spots, ctx.travel)
    home = where.task_index[task.id]
    scored = []
    for i, (prev, free) in last.items():
        c = problem.caregivers[i]
        here = where.task_index[prev.id] if prev else where.station_index[c.station_id]
        scored.append((free + where.minutes[c.mode][here][home], i))
    return sorted(scored)


def _with_partners(routes: list[Route]) -> tuple[Route, ...]:
    """Recompute each double-handed visit's partner across the merged routes."""
    hold: dict[str, list[str]] = {}
    for r in routes:
        for v in r.visits:
            hold.setdefault(v.task_id, []).append(r.caregiver_id)
    out = []
    for r in routes:
        visits = tuple(
            v.model_copy(update={"partner": next((c for c in hold[v.task_id] if c != r.caregiver_id), None)})
            for v in r.visits
        )
        out.append(r.model_copy(update={"visits": visits}))
    return tuple(out)


def diff_plans(old: Plan, new: Plan, urgent_id: str, fixed: set[str]) -> PlanDiff:
    """Who got the urgent task, and which other visits changed caregiver or start."""

    def where(plan: Plan) -> dict[str, tuple[tuple[str, ...], int]]:
        out: dict[str, tuple[tuple[str, ...], int]] = {}
        for r in plan.routes:
            for v in r.visits:
                who, _ = out.get(v.task_id, ((), v.start))
                out[v.task_id] = (tuple(sorted((*who, r.caregiver_id))), v.start)
        return out

    before, after = where(old), where(new)
    moved, unchanged = [], 0
    for task_id in sorted((set(before) | set(after)) - {urgent_id}):
        b, a = before.get(task_id), after.get(task_id)
        if b == a:
            unchanged += 1
            continue
        moved.append(
            VisitMove(
                task_id=task_id,
                from_caregiver=",".join(b[0]) if b else None,
                to_caregiver=",".join(a[0]) if a else None,
                old_start=b[1] if b else None,
                new_start=a[1] if a else None,
            )
        )
    urgent = after.get(urgent_id)
    return PlanDiff(
        urgent_task_id=urgent_id,
        assigned_to=urgent[0] if urgent else (),
        urgent_start=urgent[1] if urgent else None,
        moved=tuple(moved),
        unchanged=unchanged - len(fixed & set(before)),
        fixed=len(fixed),
    )
