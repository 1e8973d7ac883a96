"""Re-planning a day in progress: what already happened is history, only what is ahead is planned.

A visit that was checked in (started) or out (done) is kept exactly as it happened — its caregiver(s) and its
real start and end — and is never given to the solver again: the solver could not reproduce it (a visit
started early or late breaks the model's windows and travel times) and must not move it. The solver sees the
rest of the day: open tasks with their windows cut at "now", caregivers available from the later of "now" and
the end of their last visit, with the minutes they already worked taken off their maximum. The solved routes
are then stitched behind the history, so every task appears once and the stored plan reads as the day did.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatcher.domain import BreakRule, Caregiver, Task, Window
from dispatcher.scheduling.problem import Plan, Problem, ReasonCode, Route, Unassigned, Visit


@dataclass(frozen=True, slots=True)
class Kept:
    """A visit kept as it is: started or done (as it happened), or an urgent job already sent.

    Times are minutes from the horizon start.
    """

    task_id: str
    caregiver_ids: tuple[str, ...]
    start: int
    end: int


def busy_until(history: list[Kept]) -> dict[str, int]:
    """The minute each caregiver finished (or will finish) their last visit that happened."""
    out: dict[str, int] = {}
    for h in history:
        for cid in h.caregiver_ids:
            out[cid] = max(out.get(cid, h.end), h.end)
    return out


def worked(history: list[Kept]) -> dict[str, int]:
    """Service minutes each caregiver has already spent on visits."""
    out: dict[str, int] = {}
    for h in history:
        for cid in h.caregiver_ids:
            out[cid] = out.get(cid, 0) + max(0, h.end - h.start)
    return out


def from_minute(c: Caregiver, free: int, spent: int = 0) -> Caregiver:
    """The caregiver available only from ``free`` on, with ``spent`` minutes off the maximum.

    Shifts that ended before ``free`` are gone; one without time left keeps a one-minute shift at its end
    (nothing fits in it) so that caregiver indices stay stable. The break rule is cut the same way.
    """
    shifts = tuple(Window(start=max(s.start, free), end=s.end) for s in c.shifts if s.end > free)
    if not shifts:
        last = c.day_end
        shifts = (Window(start=max(0, last - 1), end=max(1, last)),)
    rule = c.break_rule
    if rule is not None:
        earliest = max(rule.earliest, shifts[0].start)
        rule = (
            BreakRule(
                duration=rule.duration,
                earliest=earliest,
                latest=rule.latest,
                min_day_minutes=rule.min_day_minutes,
            )
            if rule.latest - earliest >= rule.duration
            else None
        )
    left = max(1, c.max_work_minutes - spent)
    if shifts == c.shifts and rule == c.break_rule and left == c.max_work_minutes:
        return c
    return c.model_copy(update={"shifts": shifts, "break_rule": rule, "max_work_minutes": left})


def _cut(task: Task, minute: int) -> Task | None:
    """The task with its windows cut at ``minute``; None when no window still holds the visit."""
    windows = tuple(
        Window(start=max(w.start, minute), end=w.end)
        for w in task.windows
        if max(w.start, minute) + task.duration <= w.end
    )
    if not windows:
        return None
    return task if windows == task.windows else task.model_copy(update={"windows": windows})


def ahead(problem: Problem, history: list[Kept], minute: int | None) -> tuple[Problem, list[Unassigned]]:
    """What is left to plan: the problem without the history's tasks, cut at ``minute`` (None: no cut).

    Returns the smaller problem and the tasks whose every window has passed (reported, not planned).
    """
    done = {h.task_id for h in history}
    busy, spent = busy_until(history), worked(history)
    floor = minute if minute is not None else 0
    caregivers = tuple(
        from_minute(c, max(floor, busy.get(c.id, floor)), spent.get(c.id, 0)) for c in problem.caregivers
    )
    tasks: list[Task] = []
    passed: list[Unassigned] = []
    for t in problem.tasks:
        if t.id in done:
            continue
        cut = t if minute is None else _cut(t, minute)
        if cut is None:
            why = f"every window closes before the visit could start at minute {minute}"
            passed.append(Unassigned(task_id=t.id, code=ReasonCode.WINDOW_PASSED, reason=why))
        else:
            tasks.append(cut)
    return problem.with_tasks(tuple(tasks), caregivers=caregivers), passed


def strip(plan: Plan, history: list[Kept]) -> Plan:
    """The plan without the history's visits and tasks, its caregivers available after their last visit."""
    done = {h.task_id for h in history}
    smaller, _ = ahead(plan.problem, history, None)
    routes = tuple(
        r.model_copy(update={"visits": tuple(v for v in r.visits if v.task_id not in done)})
        for r in plan.routes
    )
    unassigned = tuple(u for u in plan.unassigned if u.task_id not in done)
    return plan.model_copy(update={"routes": routes, "problem": smaller, "unassigned": unassigned})


def with_history(plan: Plan, history: list[Kept], full: Problem) -> Plan:
    """``plan`` (of what is ahead) with the history in front of each route, over the ``full`` problem.

    A task of the history is taken out of the solved routes and the unassigned list first, so it appears once.
    """
    done = {h.task_id for h in history}
    known = {c.id for c in full.caregivers}
    past: dict[str, list[Visit]] = {}
    for h in history:
        partners = [c for c in h.caregiver_ids if c in known]
        for cid in partners:
            other = next((p for p in partners if p != cid), None)
            visit = Visit(
                task_id=h.task_id, eta=h.start, start=h.start, end=h.end, travel_minutes=0, partner=other
            )
            past.setdefault(cid, []).append(visit)
    solved = {r.caregiver_id: r for r in plan.routes}
    routes = []
    for c in full.caregivers:
        route = solved.get(c.id) or Route(caregiver_id=c.id, depart=c.day_start, back=c.day_start)
        before = sorted(past.get(c.id, []), key=lambda v: (v.start, v.task_id))
        later = tuple(v for v in route.visits if v.task_id not in done)
        if before:
            route = route.model_copy(
                update={
                    "visits": (*before, *later),
                    "depart": min(before[0].start, route.depart) if later else before[0].start,
                    "back": route.back if later else max(v.end for v in before),
                    "service_minutes": sum(v.end - v.start for v in (*before, *later)),
                }
            )
        elif len(later) != len(route.visits):
            route = route.model_copy(update={"visits": later})
        routes.append(route)
    tasks = {t.id: t for t in full.tasks}
    missing = [t for t in plan.problem.tasks if t.id not in tasks]
    problem = full.model_copy(update={"tasks": (*full.tasks, *missing)})
    return plan.model_copy(
        update={
            "routes": tuple(routes),
            "unassigned": tuple(u for u in plan.unassigned if u.task_id not in done),
            "problem": problem,
        }
    )
