"""Typed planning problem and plan (pydantic, JSON-serialisable) for one station-day."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field, model_validator

from dispatcher.domain import Caregiver, Station, Task, Window, _Frozen
from dispatcher.scheduling.spec import SolveStatus


class Weights(_Frozen):
    """Objective weights, in travel-minute equivalents."""

    drop_base: int = Field(default=1000, ge=1)  # penalty for dropping a task = drop_base * 2**priority
    continuity: int = Field(default=30, ge=0)  # per visit by someone other than the preferred caregiver
    balance: int = Field(default=1, ge=0)  # per minute a caregiver works past the fair share
    stickiness: int = Field(default=200, ge=0)  # re-planning: per visit moved to another caregiver
    max_lateness: int = Field(default=0, ge=0)  # per minute of the day's largest lateness (soft windows)


class Precedence(_Frozen):
    """Two visits of a resident in a fixed order: ``second`` starts ``min_gap``..``max_gap`` minutes after ``first``.

    Gaps are start to start (insulin at least 30 and at most 60 minutes before the meal: 30..60; a dressing
    change after a 40-minute bath: ``min_gap`` 40). The caregivers may be the same or different. The rule
    binds when both visits are planned; either one may still be dropped (and is reported as unassigned).
    """

    first: str = Field(min_length=1)
    second: str = Field(min_length=1)
    min_gap: int = Field(default=0, ge=0)
    max_gap: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Precedence:
        if self.first == self.second:
            raise ValueError(f"precedence of {self.first} on itself")
        if self.max_gap is not None and self.max_gap < self.min_gap:
            raise ValueError(f"precedence {self.first}->{self.second}: max_gap below min_gap")
        return self


class Problem(_Frozen):
    """One planning horizon: stations, caregivers (vehicles) and tasks; times in minutes from ``horizon_start``."""

    horizon_start: datetime | None = None
    horizon: int = Field(default=1440, gt=0)
    stations: tuple[Station, ...] = Field(min_length=1)
    caregivers: tuple[Caregiver, ...] = ()
    tasks: tuple[Task, ...] = ()
    precedences: tuple[Precedence, ...] = ()
    weights: Weights = Weights()

    @model_validator(mode="after")
    def _references(self) -> Problem:
        station_ids = {s.id for s in self.stations}
        for what, ids in (
            ("station", [s.id for s in self.stations]),
            ("caregiver", [c.id for c in self.caregivers]),
            ("task", [t.id for t in self.tasks]),
        ):
            if len(set(ids)) != len(ids):
                raise ValueError(f"duplicate {what} ids")
        for c in self.caregivers:
            if c.station_id not in station_ids:
                raise ValueError(f"caregiver {c.id}: unknown station {c.station_id}")
            if c.day_end > self.horizon:
                raise ValueError(f"caregiver {c.id}: shift ends after the horizon")
        task_ids = {t.id for t in self.tasks}
        for p in self.precedences:
            if p.first not in task_ids or p.second not in task_ids:
                raise ValueError(f"precedence {p.first}->{p.second}: unknown task")
        if self.horizon_start is not None and self.horizon_start.tzinfo is None:
            raise ValueError("horizon_start must be timezone-aware")
        return self

    def with_tasks(self, tasks: tuple[Task, ...], **update: object) -> Problem:
        """A copy holding only ``tasks`` (and the precedences between them), with other fields replaced."""
        ids = {t.id for t in tasks}
        kept = tuple(p for p in self.precedences if p.first in ids and p.second in ids)
        return self.model_copy(update={**update, "tasks": tasks, "precedences": kept})

    def task(self, task_id: str) -> Task:
        """The task with this id (KeyError when absent)."""
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(task_id)


class ReasonCode(StrEnum):
    MISSING_SKILL = "missing_skill"
    OUTSIDE_CIRCLE = "outside_every_circle"
    WINDOW_TOO_SHORT = "window_shorter_than_duration"
    NO_SAME_SEX = "no_same_sex_caregiver"
    NO_LANGUAGE = "no_caregiver_speaks_language"
    NO_SHIFT = "no_suitable_caregiver_on_shift"
    NOT_ENOUGH_CARERS = "fewer_than_two_suitable_caregivers"
    WINDOW_PASSED = "window_already_passed"
    DROPPED = "dropped_by_solver"
    NO_SOLUTION = "no_solution"


class Unassigned(_Frozen):
    """A task left out of the plan, with the reason."""

    task_id: str
    code: ReasonCode
    reason: str


class Visit(_Frozen):
    """One visit of a route: arrival (ETA), service start and end, travel from the previous stop."""

    task_id: str
    eta: int
    start: int
    end: int
    travel_minutes: int
    partner: str | None = None  # the other caregiver of a double-handed visit
    role: int = 0  # which role (0 or 1) of a double-handed visit this caregiver fills
    late_minutes: int = 0  # past the latest on-time start (soft windows only)


class BreakTaken(_Frozen):
    """A break placed by the solver."""

    start: int
    end: int
    kind: str = "rest"  # "rest" (break rule) or "off_shift" (gap between split shifts)


class Route(_Frozen):
    """A caregiver's day: leave the station, visits in order, return."""

    caregiver_id: str
    depart: int
    back: int  # minute the caregiver is back at the station
    visits: tuple[Visit, ...] = ()
    breaks: tuple[BreakTaken, ...] = ()
    travel_minutes: int = 0
    service_minutes: int = 0


class Plan(_Frozen):
    """A solved plan: routes per caregiver, unassigned tasks with reasons, solver figures."""

    version: int = 1
    status: SolveStatus
    objective: int = 0
    solve_seconds: float = 0.0
    routes: tuple[Route, ...] = ()
    unassigned: tuple[Unassigned, ...] = ()
    problem: Problem
    routing_status: str = ""

    def route_of(self, caregiver_id: str) -> Route | None:
        """The route of a caregiver, if any."""
        return next((r for r in self.routes if r.caregiver_id == caregiver_id), None)

    @property
    def travel_minutes(self) -> int:
        """Total travel minutes over all routes."""
        return sum(r.travel_minutes for r in self.routes)


class VisitMove(_Frozen):
    """A visit whose caregiver or start changed in a re-plan."""

    task_id: str
    from_caregiver: str | None
    to_caregiver: str | None
    old_start: int | None
    new_start: int | None


class PlanDiff(_Frozen):
    """What a re-plan changed: where the urgent task went and whose visits moved."""

    urgent_task_id: str
    assigned_to: tuple[str, ...] = ()
    urgent_start: int | None = None
    moved: tuple[VisitMove, ...] = ()
    unchanged: int = 0
    fixed: int = 0  # visits already started or done, kept as they were


def window_of(task: Task, start: int) -> Window | None:
    """The task window that holds a visit starting at ``start``, if any."""
    return next((w for w in task.windows if w.start <= start and start + task.duration <= w.end), None)
