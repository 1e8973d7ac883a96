from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from dispatcher.domain import TaskKind, Window
from dispatcher.service_plans import Booking, Recurrence, ServicePlan, TaskTemplate, tasks_for_day

START = date(2026, 11, 23)  # a Monday


def _template(kind: TaskKind, start: int, end: int, duration: int, **kw: object) -> TaskTemplate:
    data: dict[str, object] = {
        "kind": kind,
        "home_id": "h1",
        "lat": 29.72,
        "lon": 106.63,
        "duration": duration,
        "windows": (Window(start=start, end=end),),
    }
    return TaskTemplate.model_validate(data | kw)


PLANS = [
    ServicePlan(
        id="lunch", recurrence=Recurrence.DAILY, start=START, template=_template(TaskKind.MEAL, 660, 750, 20)
    ),
    ServicePlan(
        id="bath",
        recurrence=Recurrence.WEEKLY,
        start=START,
        weekdays=frozenset({1}),
        template=_template(TaskKind.BATHING, 540, 660, 45, skills=frozenset({"bathing"}), carers=2),
    ),
    ServicePlan(
        id="visit",
        recurrence=Recurrence.EVERY_N_DAYS,
        start=START,
        every_days=3,
        until=START + timedelta(days=9),
        template=_template(TaskKind.VISIT, 600, 900, 30),
    ),
]


def test_two_weeks_of_dated_tasks() -> None:
    seen: dict[str, list[int]] = {"lunch": [], "bath": [], "visit": []}
    for offset in range(14):
        day = START + timedelta(days=offset)
        for task in tasks_for_day(PLANS, [], day):
            plan_id, _, iso = task.id.partition("@")
            assert iso == day.isoformat()
            seen[plan_id].append(offset)
    assert seen["lunch"] == list(range(14))
    assert seen["bath"] == [1, 8]  # Tuesdays
    assert seen["visit"] == [0, 3, 6, 9]  # every 3 days, until day 9


def test_generated_task_carries_the_template() -> None:
    bath = next(t for t in tasks_for_day(PLANS, [], START + timedelta(days=1)) if t.kind is TaskKind.BATHING)
    assert bath.carers == 2
    assert bath.skills == frozenset({"bathing"})
    assert bath.windows == (Window(start=540, end=660),)
    assert bath.duration == 45


def test_bookings_only_on_their_day_and_before_start_nothing() -> None:
    booking = Booking(id="b1", day=START, template=_template(TaskKind.CLEANING, 600, 720, 60))
    assert [t.id for t in tasks_for_day([], [booking], START)] == ["b1@2026-11-23"]
    assert tasks_for_day([], [booking], START + timedelta(days=1)) == []
    assert tasks_for_day(PLANS, [], START - timedelta(days=1)) == []


def test_weekly_without_weekdays_is_rejected() -> None:
    with pytest.raises(ValidationError):
        ServicePlan(
            id="x",
            recurrence=Recurrence.WEEKLY,
            start=START,
            template=_template(TaskKind.VISIT, 600, 700, 30),
        )
