"""Before solving: travel matrices over all places, and which caregivers can do each task (or why none can)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from devices.types import TravelMode
from dispatcher.domain import Caregiver, Task
from dispatcher.scheduling.problem import Problem, ReasonCode, Unassigned
from dispatcher.travel import CachedProvider, HaversineProvider, LatLon, Matrix, TravelTimeProvider, matrix

_DEFAULT_PROVIDER = CachedProvider(HaversineProvider())


@dataclass(frozen=True, slots=True)
class Places:
    """Distinct places (stations first, then homes) and a travel matrix per mode."""

    points: list[LatLon]
    station_index: dict[str, int]
    task_index: dict[str, int]
    minutes: dict[TravelMode, Matrix]


def places(problem: Problem, provider: TravelTimeProvider | None = None) -> Places:
    """Collect distinct points and compute (cached) matrices for every travel mode in use."""
    points: list[LatLon] = []
    seen: dict[LatLon, int] = {}

    def add(p: LatLon) -> int:
        if p not in seen:
            seen[p] = len(points)
            points.append(p)
        return seen[p]

    station_index = {s.id: add((s.lat, s.lon)) for s in problem.stations}
    task_index = {t.id: add((t.lat, t.lon)) for t in problem.tasks}
    modes = {s.mode for s in problem.stations} | {c.mode for c in problem.caregivers}
    source = provider or _DEFAULT_PROVIDER
    minutes = {m: matrix(source, points, m) for m in sorted(modes)}
    return Places(points, station_index, task_index, minutes)


def in_circle(problem: Problem, where: Places, task: Task) -> set[str]:
    """Stations whose circle (by the station's own mode) holds the task's home."""
    home = where.task_index[task.id]
    return {
        s.id
        for s in problem.stations
        if where.minutes[s.mode][where.station_index[s.id]][home] <= s.circle_minutes
    }


def _fits_shift(c: Caregiver, task: Task) -> bool:
    shortest = min(task.role_duration(k) for k in range(task.carers))
    late = task.lateness.max_minutes if task.lateness is not None else 0
    return any(
        min(w.end + late, s.end) - max(w.start, s.start) >= shortest for w in task.windows for s in c.shifts
    )


def _filters(task: Task) -> list[tuple[ReasonCode, str, Callable[[Caregiver], bool]]]:
    need = sorted(task.skills)
    return [
        (
            ReasonCode.MISSING_SKILL,
            f"no caregiver in its circle has skills {need}",
            lambda c: task.skills <= c.skills,
        ),
        (
            ReasonCode.NO_SAME_SEX,
            f"needs a {task.resident_sex} caregiver and none is suitable",
            lambda c: not task.same_sex or c.sex == task.resident_sex,
        ),
        (
            ReasonCode.NO_LANGUAGE,
            f"no suitable caregiver speaks {task.language}",
            lambda c: task.language is None or task.language in c.languages,
        ),
        (
            ReasonCode.NO_SHIFT,
            "no suitable caregiver's shift overlaps a window",
            lambda c: _fits_shift(c, task),
        ),
    ]


def suitable(problem: Problem, where: Places, task: Task) -> tuple[list[int], Unassigned | None]:
    """Caregiver indices able to do ``task``, or an Unassigned reason (checked in a fixed order).

    Args:
        problem: The problem.
        where: Places and matrices from :func:`places`.
        task: The task to check.

    Returns:
        (indices, None) when someone can do it, else ([], the first failing reason).
    """
    longest_visit = max(task.role_duration(k) for k in range(task.carers))
    if not any(w.length >= longest_visit for w in task.windows):
        longest = max(w.length for w in task.windows)
        why = f"longest window {longest} min is shorter than the {longest_visit} min visit"
        return [], Unassigned(task_id=task.id, code=ReasonCode.WINDOW_TOO_SHORT, reason=why)
    stations = in_circle(problem, where, task)
    if not stations:
        why = "home is outside every station's 15-minute circle"
        return [], Unassigned(task_id=task.id, code=ReasonCode.OUTSIDE_CIRCLE, reason=why)
    candidates = [i for i, c in enumerate(problem.caregivers) if c.station_id in stations]
    if not candidates:
        why = f"no caregiver works at station(s) {sorted(stations)}"
        return [], Unassigned(task_id=task.id, code=ReasonCode.NO_SHIFT, reason=why)
    for code, why, keep in _filters(task):
        candidates = [i for i in candidates if keep(problem.caregivers[i])]
        if not candidates:
            return [], Unassigned(task_id=task.id, code=code, reason=why)
    if len(candidates) < task.carers:
        why = f"double-handed visit but only {len(candidates)} suitable caregiver"
        return [], Unassigned(task_id=task.id, code=ReasonCode.NOT_ENOUGH_CARERS, reason=why)
    if task.roles is not None:
        return _fill_roles(problem, task, candidates)
    return candidates, None


def _fill_roles(problem: Problem, task: Task, candidates: list[int]) -> tuple[list[int], Unassigned | None]:
    """A double-handed visit with two roles needs someone for each role, and two different people."""
    fit = [[i for i in candidates if task.role_skills(k) <= problem.caregivers[i].skills] for k in (0, 1)]
    for k in (0, 1):
        if not fit[k]:
            need = sorted(task.role_skills(k))
            why = f"no suitable caregiver has the skills {need} of role {k + 1}"
            return [], Unassigned(task_id=task.id, code=ReasonCode.MISSING_SKILL, reason=why)
    if not any(i != j for i in fit[0] for j in fit[1]):
        why = "both roles can only be filled by the same caregiver"
        return [], Unassigned(task_id=task.id, code=ReasonCode.NOT_ENOUGH_CARERS, reason=why)
    return sorted(set(fit[0]) | set(fit[1])), None


def precheck(problem: Problem, where: Places) -> tuple[dict[str, list[int]], list[Unassigned]]:
    """Split tasks into those someone can do (with who) and those nobody can (with why)."""
    able: dict[str, list[int]] = {}
    unable: list[Unassigned] = []
    for task in problem.tasks:
        who, why = suitable(problem, where, task)
        if why is None:
            able[task.id] = who
        else:
            unable.append(why)
    return able, unable
