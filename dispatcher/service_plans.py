"""Recurring service plans and one-off bookings, expanded into dated tasks by pure functions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum

from pydantic import Field, model_validator

from dispatcher.domain import Sex, Task, TaskKind, Window, _Frozen


class Recurrence(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    EVERY_N_DAYS = "every_n_days"


class TaskTemplate(_Frozen):
    """What each generated task looks like (everything but its id)."""

    kind: TaskKind
    home_id: str
    lat: float
    lon: float
    duration: int = Field(gt=0)
    windows: tuple[Window, ...] = Field(min_length=1)
    skills: frozenset[str] = frozenset()
    carers: int = Field(default=1, ge=1, le=2)
    priority: int = Field(default=3, ge=1, le=5)
    preferred_caregiver: str | None = None
    same_sex: bool = False
    resident_sex: Sex | None = None
    language: str | None = None

    def to_task(self, task_id: str) -> Task:
        """Build the concrete task with the given id."""
        return Task.model_validate({"id": task_id, **self.model_dump()})


class ServicePlan(_Frozen):
    """A resident's recurring service, e.g. lunch daily, a bath every Tuesday, a visit every 3 days."""

    id: str = Field(min_length=1)
    recurrence: Recurrence
    start: date
    until: date | None = None
    weekdays: frozenset[int] = frozenset()  # 0 = Monday … 6 = Sunday, for WEEKLY
    every_days: int = Field(default=1, ge=1)  # for EVERY_N_DAYS, counted from ``start``
    template: TaskTemplate

    @model_validator(mode="after")
    def _consistent(self) -> ServicePlan:
        if self.recurrence is Recurrence.WEEKLY and not self.weekdays:
            raise ValueError(f"plan {self.id}: weekly needs weekdays")
        if any(d < 0 or d > 6 for d in self.weekdays):
            raise ValueError(f"plan {self.id}: weekdays are 0..6")
        return self

    def occurs_on(self, day: date) -> bool:
        """Whether the plan generates a task on ``day``."""
        if day < self.start or (self.until is not None and day > self.until):
            return False
        if self.recurrence is Recurrence.DAILY:
            return True
        if self.recurrence is Recurrence.WEEKLY:
            return day.weekday() in self.weekdays
        return (day - self.start).days % self.every_days == 0


class Booking(_Frozen):
    """A one-off request from a family member or the resident (housekeeping, an escort …)."""

    id: str = Field(min_length=1)
    day: date
    template: TaskTemplate


def tasks_for_day(plans: Iterable[ServicePlan], bookings: Iterable[Booking], day: date) -> list[Task]:
    """Expand plans and bookings into the tasks of one day.

    Args:
        plans: Recurring service plans.
        bookings: One-off bookings; only those on ``day`` are used.
        day: The planning day.

    Returns:
        Tasks with ids ``"{plan_or_booking_id}@{day}"``, in input order.
    """
    tasks = [p.template.to_task(f"{p.id}@{day.isoformat()}") for p in plans if p.occurs_on(day)]
    tasks += [b.template.to_task(f"{b.id}@{day.isoformat()}") for b in bookings if b.day == day]
    return tasks
