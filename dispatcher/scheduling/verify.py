"""Independent re-check of a Plan against its Problem (no solver involved): returns the violations found."""

from __future__ import annotations

import itertools
from collections import defaultdict

from dispatcher.domain import Caregiver, Task
from dispatcher.scheduling.precheck import Places, in_circle, places
from dispatcher.scheduling.problem import Plan, Route, Visit
from dispatcher.travel import TravelTimeProvider


def verify_plan(plan: Plan, travel: TravelTimeProvider | None = None) -> list[str]:
    """Check windows, lateness, skills per role, sex, language, circles, shifts, breaks, max minutes, travel,
    synchronised starts and precedence gaps.

    Args:
        plan: The plan (it carries its problem).
        travel: The provider the plan was made with (default: the planner's default).

    Returns:
        Human-readable violations; empty when the plan is sound.
    """
    problem = plan.problem
    where = places(problem, travel)
    problems: list[str] = []
    starts: dict[str, list[tuple[str, int]]] = defaultdict(list)
    roles: dict[str, list[int]] = defaultdict(list)
    for route in plan.routes:
        problems += _check_route(plan, route, where)
        for v in route.visits:
            starts[v.task_id].append((route.caregiver_id, v.start))
            roles[v.task_id].append(v.role)
    unassigned = {u.task_id for u in plan.unassigned}
    for task in problem.tasks:
        done = starts.get(task.id, [])
        if task.id in unassigned and done:
            problems.append(f"{task.id}: both unassigned and visited")
        if task.id not in unassigned and len(done) != task.carers:
            problems.append(f"{task.id}: {len(done)} visits for {task.carers} carers")
        if len(done) == 2 and (done[0][0] == done[1][0] or done[0][1] != done[1][1]):
            problems.append(f"{task.id}: double-handed visit not synchronised on two caregivers: {done}")
        if task.roles is not None and done and sorted(roles[task.id]) != list(range(len(done))):
            problems.append(f"{task.id}: roles {sorted(roles[task.id])} instead of one visit per role")
    return problems + _check_gaps(plan, starts)


def _check_gaps(plan: Plan, starts: dict[str, list[tuple[str, int]]]) -> list[str]:
    """Each precedence whose two visits are both planned keeps its gap (start to start)."""
    out = []
    for p in plan.problem.precedences:
        if not starts.get(p.first) or not starts.get(p.second):
            continue
        gap = starts[p.second][0][1] - starts[p.first][0][1]
        if gap < p.min_gap or (p.max_gap is not None and gap > p.max_gap):
            most = "∞" if p.max_gap is None else p.max_gap
            out.append(f"{p.second} starts {gap} min after {p.first}, not within {p.min_gap}..{most}")
    return out


def _check_route(plan: Plan, route: Route, where: Places) -> list[str]:
    problem = plan.problem
    c = next(x for x in problem.caregivers if x.id == route.caregiver_id)
    out: list[str] = []
    if not route.visits:
        return out
    minutes = where.minutes[c.mode]
    station = where.station_index[c.station_id]
    if route.depart < c.day_start or route.back > c.day_end:
        out.append(f"{c.id}: route {route.depart}-{route.back} outside shifts {c.day_start}-{c.day_end}")
    if route.back - route.depart > c.max_work_minutes + _gaps(c):
        out.append(f"{c.id}: works {route.back - route.depart} min > {c.max_work_minutes}")
    stops = [(station, route.depart, route.depart)]
    for v in route.visits:
        out += _check_visit(plan, c, v, where)
        stops.append((where.task_index[v.task_id], v.start, v.end))
    stops.append((station, route.back, route.back))
    for (p, _, leave), (q, arrive, _) in itertools.pairwise(stops):
        resting = sum(b.end - b.start for b in route.breaks if leave <= b.start and b.end <= arrive)
        if arrive < leave + minutes[p][q] + resting:
            out.append(
                f"{c.id}: cannot leave at {leave}, travel {minutes[p][q]} + rest {resting} by {arrive}"
            )
    return out + _check_breaks(plan, route)


def _check_visit(plan: Plan, c: Caregiver, v: Visit, where: Places) -> list[str]:
    task = plan.problem.task(v.task_id)
    out: list[str] = []
    if not 0 <= v.role < task.carers:
        return [f"{task.id}: role {v.role} of a {task.carers}-carer visit"]
    duration, skills = task.role_duration(v.role), task.role_skills(v.role)
    if v.end - v.start != duration:
        out.append(f"{task.id}: visit {v.start}-{v.end} is not {duration} min long")
    if not any(lo <= v.start <= hi for lo, hi in _allowed_starts(task, v.role)):
        out.append(f"{task.id}: start {v.start} (+{duration}) outside windows")
    if v.late_minutes != task.late_minutes(v.start, v.role):
        out.append(f"{task.id}: reported {v.late_minutes} min late, is {task.late_minutes(v.start, v.role)}")
    if not skills <= c.skills:
        out.append(f"{task.id}: {c.id} lacks {sorted(skills - c.skills)}")
    if task.same_sex and c.sex != task.resident_sex:
        out.append(f"{task.id}: same-sex carer required, {c.id} is {c.sex}")
    if task.language is not None and task.language not in c.languages:
        out.append(f"{task.id}: {c.id} does not speak {task.language}")
    if c.station_id not in in_circle(plan.problem, where, task):
        out.append(f"{task.id}: home outside {c.station_id}'s circle")
    if not any(s.start <= v.start and v.end <= s.end for s in c.shifts):
        out.append(f"{task.id}: visit {v.start}-{v.end} outside {c.id}'s shifts")
    return out


def _allowed_starts(task: Task, role: int) -> list[tuple[int, int]]:
    """Recomputed from the windows (not through the planner's own ranges): on time, or late within the limit."""
    d = task.role_duration(role)
    ranges = [(w.start, w.end - d) for w in task.windows if w.length >= d]
    if task.lateness is not None and ranges:
        last = max(hi for _, hi in ranges)
        ranges.append((last, last + task.lateness.max_minutes))
    return ranges


def _gaps(c: object) -> int:
    shifts = sorted(getattr(c, "shifts", ()), key=lambda s: s.start)
    return sum(max(0, b.start - a.end) for a, b in itertools.pairwise(shifts))


def _check_breaks(plan: Plan, route: Route) -> list[str]:
    c = next(x for x in plan.problem.caregivers if x.id == route.caregiver_id)
    out: list[str] = []
    for b in route.breaks:
        if any(v.start < b.end and b.start < v.end for v in route.visits):
            out.append(f"{c.id}: break {b.start}-{b.end} overlaps a visit")
    rule = c.break_rule
    rests = [b for b in route.breaks if b.kind == "rest"]
    if rule is not None and c.day_end - c.day_start - _gaps(c) > rule.min_day_minutes:
        ok = [
            b
            for b in rests
            if rule.earliest <= b.start and b.end <= rule.latest and b.end - b.start >= rule.duration
        ]
        if not ok:
            out.append(f"{c.id}: no {rule.duration}-min break within {rule.earliest}-{rule.latest}")
    return out
