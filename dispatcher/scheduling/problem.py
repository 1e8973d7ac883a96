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


class Problem(_Frozen):
    """One planning horizon: stations, caregivers (vehicles) and tasks; times in minutes from ``horizon_start``."""

    horizon_start: datetime | None = None
    horizon: int = Field(default=1440, gt=0)
    stations: tuple[Station, ...] = Field(min_length=1)
    caregivers: tuple[Caregiver, ...] = ()
    tasks: tuple[Task, ...] = ()
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
        if self.horizon_start is not None and self.horizon_start.tzinfo is None:
            raise ValueError("horizon_start must be timezone-aware")
        return self

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
