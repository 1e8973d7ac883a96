"""Planning entities: stations, caregivers and tasks, in integer minutes from the horizon start."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.types import TravelMode


class TaskKind(StrEnum):
    MEAL = "meal"
    BATHING = "bathing"
    CLEANING = "cleaning"
    ESCORT = "escort"
    VISIT = "visit"
    EMERGENCY = "emergency"


class TaskStatus(StrEnum):
    PENDING = "pending"
    PLANNED = "planned"
    STARTED = "started"
    DONE = "done"
    CANCELLED = "cancelled"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Window(_Frozen):
    """A half-open interval [start, end) in minutes; a visit must lie wholly inside one window."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after start {self.start}")
        return self

    @property
    def length(self) -> int:
        """Minutes in the window."""
        return self.end - self.start


class BreakRule(_Frozen):
    """A break of ``duration`` minutes inside [earliest, latest] once the working day exceeds ``min_day_minutes``."""

    duration: int = Field(default=30, gt=0)
    earliest: int = Field(ge=0)
    latest: int = Field(ge=0)
    min_day_minutes: int = Field(default=360, ge=0)

    @model_validator(mode="after")
    def _fits(self) -> BreakRule:
        if self.latest - self.earliest < self.duration:
            raise ValueError("break window shorter than the break")
        return self


class Station(_Frozen):
    """A community station; its 15-minute circle is measured by its own travel mode."""

    id: str = Field(min_length=1)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    mode: TravelMode = TravelMode.WALK
    circle_minutes: int = Field(default=15, gt=0)


class Caregiver(_Frozen):
    """A caregiver (one routing vehicle): shifts are windows; several shifts make a split day."""

    id: str = Field(min_length=1)
    station_id: str
    skills: frozenset[str] = frozenset()
    sex: Sex
    shifts: tuple[Window, ...] = Field(min_length=1)
    break_rule: BreakRule | None = None
    max_work_minutes: int = Field(default=480, gt=0)
    mode: TravelMode = TravelMode.WALK
    languages: frozenset[str] = frozenset()

    @property
    def day_start(self) -> int:
        """First minute of the first shift."""
        return min(s.start for s in self.shifts)

    @property
    def day_end(self) -> int:
        """Last minute of the last shift."""
        return max(s.end for s in self.shifts)


class Lateness(_Frozen):
    """Soft end of a task's windows: the visit may end up to ``max_minutes`` after its last window closes.

    Each minute past the latest on-time start costs ``cost_per_minute`` (in travel-minute equivalents), so
    the planner can trade a little lateness against a long detour; past ``max_minutes`` it is as hard as
    a closed window.
    """

    cost_per_minute: int = Field(ge=1)
    max_minutes: int = Field(ge=0)


class Role(_Frozen):
    """One carer's part of a double-handed visit: skills on top of the task's own, and its own duration.

    Both carers start together; a role with a shorter duration leaves earlier (an aide helping a nurse
    to transfer, say).
    """

    skills: frozenset[str] = frozenset()
    duration: int | None = Field(default=None, gt=0)


class Task(_Frozen):
    """A visit to a home: ``carers`` = 2 means a double-handed visit with a synchronised start.

    ``roles`` (double-handed only) give each carer their own skills and duration; ``lateness`` makes the
    windows soft at the end (None: hard windows).
    """

    id: str = Field(min_length=1)
    kind: TaskKind
    home_id: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    duration: int = Field(gt=0)
    windows: tuple[Window, ...] = Field(min_length=1)
    skills: frozenset[str] = frozenset()
    carers: Literal[1, 2] = 1
    priority: int = Field(default=3, ge=1, le=5)
    preferred_caregiver: str | None = None
    same_sex: bool = False
    resident_sex: Sex | None = None
    language: str | None = None
    status: TaskStatus = TaskStatus.PENDING
    lateness: Lateness | None = None
    roles: tuple[Role, Role] | None = None

    @model_validator(mode="after")
    def _same_sex_needs_sex(self) -> Task:
        if self.same_sex and self.resident_sex is None:
            raise ValueError(f"task {self.id}: same_sex requires resident_sex")
        if self.roles is not None and self.carers != 2:
            raise ValueError(f"task {self.id}: roles need a double-handed visit (carers = 2)")
        return self

    def role_skills(self, role: int) -> frozenset[str]:
        """Skills the carer in ``role`` (0 or 1) needs: the task's own plus the role's."""
        if self.roles is None:
            return self.skills
        return self.skills | self.roles[role].skills

    def role_duration(self, role: int) -> int:
        """Minutes the carer in ``role`` (0 or 1) stays."""
        if self.roles is None:
            return self.duration
        return self.roles[role].duration or self.duration

    def start_ranges(self, role: int = 0) -> list[tuple[int, int]]:
        """Allowed service starts ``[lo, hi]`` of a role, sorted: on time in a window, or late within the limit.

        Lateness extends only the window that closes last (a visit late for a morning window is simply
        an on-time visit in the afternoon one).
        """
        d = self.role_duration(role)
        ranges = sorted((w.start, w.end - d) for w in self.windows if w.length >= d)
        if self.lateness is not None and ranges:
            last = max(range(len(ranges)), key=lambda k: ranges[k][1])
            lo, hi = ranges[last]
            ranges[last] = (lo, hi + self.lateness.max_minutes)
        return ranges

    def on_time_until(self, role: int = 0) -> int:
        """The latest on-time service start of a role (the end of the last window minus its duration)."""
        d = self.role_duration(role)
        return (
            max((w.end for w in self.windows if w.length >= d), default=max(w.end for w in self.windows)) - d
        )

    def late_minutes(self, start: int, role: int = 0) -> int:
        """Minutes a start lies past the latest on-time start (0 when on time or windows are hard)."""
        if self.lateness is None:
            return 0
        return max(0, start - self.on_time_until(role))
