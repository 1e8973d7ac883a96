from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatcher.domain import TaskKind, Window
from dispatcher.errors import InvalidProblem
from dispatcher.scheduling.problem import Plan, Problem
from dispatcher.scheduling.replan import replan
from dispatcher.scheduling.solve import solve
from dispatcher.scheduling.verify import verify_plan
from dispatcher.synthetic import station_day

from .helpers import STATION, assert_sound, carer, job, minutes, near, problem

DAY = datetime(2026, 11, 24, tzinfo=UTC)


def _base() -> tuple[Problem, Plan]:
    carers = [
        carer("ann", skills={"nursing"}),
        carer("bea", skills={"nursing"}),
        carer("cal", skills=set()),
    ]
    tasks = [
        job("long", 8, start=600, end=730, duration=120, skills=frozenset({"nursing"})),
        job("m1", 1, start=500, end=560, duration=30),
        job("m2", 2, start=560, end=640, duration=30),
        job("a1", 3, start=700, end=800, duration=30),
        job("a2", 4, start=800, end=900, duration=30),
        job("a3", 5, start=840, end=1000, duration=30),
    ]
    prob = problem(carers, tasks, horizon_start=DAY)
    return prob, solve(prob, time_limit_s=1)


def test_replan_keeps_started_visits_and_uses_the_nearest_suitable_carer() -> None:
    prob, plan = _base()
    assert plan.unassigned == ()
    now = 650
    urgent = job("sos", 7, start=now, end=now + 60, duration=30, kind=TaskKind.EMERGENCY, priority=5)
    urgent = urgent.model_copy(update={"skills": frozenset({"nursing"})})
    # who could reach the home first, computed here from the old plan
    arrival = {}
    for r in plan.routes:
        c = next(c for c in prob.caregivers if c.id == r.caregiver_id)
        if "nursing" not in c.skills:
            continue
        done = [v for v in r.visits if v.start < now]
        here = (STATION.lat, STATION.lon)
        if done:
            t = prob.task(done[-1].task_id)
            here = (t.lat, t.lon)
        free = max(now, done[-1].end if done else c.day_start)
        arrival[c.id] = free + minutes(here, near(7), c.mode)
    nearest = min(arrival, key=lambda k: arrival[k])
    new, diff = replan(plan, urgent, DAY + timedelta(minutes=now), time_limit_s=1)
    assert new.version == plan.version + 1
    assert diff.assigned_to == (nearest,)
    assert diff.urgent_start is not None
    assert now <= diff.urgent_start <= now + 30
    assert_sound(new)
    assert verify_plan(new) == []
    before = {(r.caregiver_id, v.task_id, v.start) for r in plan.routes for v in r.visits if v.start < now}
    after = {(r.caregiver_id, v.task_id, v.start) for r in new.routes for v in r.visits}
    assert before
    assert before <= after
    assert diff.fixed == len(before)
    moved = {m.task_id for m in diff.moved}
    assert not moved & {t for _, t, _ in before}
    old_where = {(r.caregiver_id, v.task_id, v.start) for r in plan.routes for v in r.visits}
    changed = {t for _, t, _ in old_where - after}
    assert changed == moved


def test_replan_rejects_duplicate_ids_and_naive_now() -> None:
    _, plan = _base()
    with pytest.raises(InvalidProblem):
        replan(plan, job("m1", 1), 600)
    with pytest.raises(InvalidProblem):
        replan(plan, job("x", 1), datetime(2026, 11, 24, 10))  # noqa: DTZ001  # noqa: DTZ001


def test_replan_reports_an_urgent_task_nobody_can_do() -> None:
    _, plan = _base()
    urgent = job("sos", 7, start=700, end=760, duration=30, skills=frozenset({"dementia"}))
    new, diff = replan(plan, urgent, 690)
    assert diff.assigned_to == ()
    assert any(u.task_id == "sos" and u.reason for u in new.unassigned)
    assert_sound(new)


def test_replan_window_already_passed() -> None:
    _, plan = _base()
    late = job("late", 7, start=600, end=660, duration=30, windows=(Window(start=600, end=660),))
    new, diff = replan(plan, late, 700)
    assert diff.assigned_to == ()
    assert {u.task_id: u.code.value for u in new.unassigned}["late"] == "window_already_passed"


def test_double_handed_urgent_goes_to_two_carers_at_one_start() -> None:
    _, plan = _base()
    urgent = job(
        "lift", 7, start=700, end=800, duration=30, carers=2, skills=frozenset({"nursing"}), priority=5
    )
    new, diff = replan(plan, urgent, 690, time_limit_s=1)
    assert diff.assigned_to == ("ann", "bea")
    starts = {v.start for r in new.routes for v in r.visits if v.task_id == "lift"}
    assert len(starts) == 1
    partners = {r.caregiver_id: v.partner for r in new.routes for v in r.visits if v.task_id == "lift"}
    assert partners == {"ann": "bea", "bea": "ann"}
    assert_sound(new)
    assert verify_plan(new) == []


def test_replan_of_a_synthetic_day_keeps_other_routes() -> None:
    prob = station_day(3, n_caregivers=8, n_tasks=50)
    plan = solve(prob, time_limit_s=2)
    urgent = job("sos", 1, start=720, end=810, duration=30, kind=TaskKind.EMERGENCY, priority=5)
    urgent = urgent.model_copy(update={"lat": prob.tasks[0].lat, "lon": prob.tasks[0].lon})
    new, diff = replan(plan, urgent, 715, time_limit_s=1)
    assert len(diff.assigned_to) == 1
    assert_sound(new)
    assert verify_plan(new) == []
    touched = {diff.assigned_to[0]} | {c for m in diff.moved for c in (m.from_caregiver, m.to_caregiver) if c}
    for old_route in plan.routes:
        again = new.route_of(old_route.caregiver_id)
        assert again is not None
        if old_route.caregiver_id not in touched:
            assert [(v.task_id, v.start) for v in again.visits] == [
                (v.task_id, v.start) for v in old_route.visits
            ]
        if any(v.start < 715 for v in old_route.visits):
            assert again.depart == old_route.depart
    lost = {u.task_id for u in new.unassigned} - {u.task_id for u in plan.unassigned}
    assert all(next(u for u in new.unassigned if u.task_id == t).reason.startswith("bumped") for t in lost)


def test_replan_sends_the_chosen_carer_and_never_one_who_declined() -> None:
    _, plan = _base()
    urgent = job("sos", 7, start=650, end=900, duration=30, kind=TaskKind.EMERGENCY, priority=5)
    urgent = urgent.model_copy(update={"skills": frozenset({"nursing"})})
    _, chosen = replan(plan, urgent, 650, time_limit_s=1, caregiver_id="bea")
    assert chosen.assigned_to == ("bea",)
    _, declined = replan(plan, urgent, 650, time_limit_s=1, exclude=frozenset({"bea"}))
    assert declined.assigned_to == ("ann",)  # the only other nursing carer
    nobody, none = replan(plan, urgent, 650, time_limit_s=1, exclude=frozenset({"ann", "bea"}))
    assert none.assigned_to == ()
    assert "declined" in {u.task_id: u.reason for u in nobody.unassigned}["sos"]
    _, unsuitable = replan(plan, urgent, 650, time_limit_s=1, caregiver_id="cal")  # no nursing skill
    assert unsuitable.assigned_to == ()
