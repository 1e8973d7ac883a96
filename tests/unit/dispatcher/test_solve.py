from __future__ import annotations

import pytest

from devices.types import TravelMode
from dispatcher.domain import BreakRule, Sex, Station, Task, Window
from dispatcher.errors import InvalidProblem
from dispatcher.scheduling.precheck import places, precheck
from dispatcher.scheduling.problem import Problem, ReasonCode
from dispatcher.scheduling.solve import solve
from dispatcher.scheduling.spec import SolveStatus
from dispatcher.scheduling.verify import verify_plan

from .helpers import STATION, assert_sound, carer, job, problem


def _reasons(plan: object) -> dict[str, ReasonCode]:
    return {u.task_id: u.code for u in plan.unassigned}  # type: ignore[attr-defined]


def test_mixed_day_respects_every_rule() -> None:
    lunch = BreakRule(duration=30, earliest=690, latest=780, min_day_minutes=360)
    carers = [
        carer("ann", skills={"meals", "bathing"}, break_rule=lunch),
        carer("bea", skills={"meals", "cleaning"}, break_rule=lunch),
        carer("cal", skills={"meals", "bathing"}, sex=Sex.MALE, break_rule=lunch),
    ]
    tasks = [
        job("meal1", 1, start=660, end=750, duration=20, skills=frozenset({"meals"})),
        job("meal2", 2, start=660, end=750, duration=20, skills=frozenset({"meals"})),
        job("clean", 3, start=540, end=720, duration=45, skills=frozenset({"cleaning"})),
        job("bath", 4, start=540, end=660, duration=40, skills=frozenset({"bathing"}), carers=2),
        job(
            "bath-f",
            5,
            start=840,
            end=960,
            duration=40,
            skills=frozenset({"bathing"}),
            same_sex=True,
            resident_sex=Sex.FEMALE,
        ),
        job("visit", 6, start=900, end=1000, duration=25),
    ]
    plan = solve(problem(carers, tasks), time_limit_s=2)
    assert plan.status in (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL)
    assert plan.unassigned == ()
    assert_sound(plan)
    assert verify_plan(plan) == []
    by_task = {v.task_id: r.caregiver_id for r in plan.routes for v in r.visits}
    assert by_task["clean"] == "bea"
    assert by_task["bath-f"] == "ann"
    bath = sorted(
        (r.caregiver_id, v.start, v.partner) for r in plan.routes for v in r.visits if v.task_id == "bath"
    )
    assert [b[0] for b in bath] == ["ann", "cal"]
    assert bath[0][1] == bath[1][1]
    assert bath[0][2] == "cal"
    assert bath[1][2] == "ann"
    for r in plan.routes:  # every used long day has its lunch break inside 690-780
        if r.visits:
            assert any(b.kind == "rest" and b.start >= 690 and b.end <= 780 for b in r.breaks)


def test_unassignable_tasks_are_reported_before_solving() -> None:
    carers = [carer("ann", skills={"meals"}), carer("bob", sex=Sex.MALE, skills={"bathing"})]
    tasks = [
        job("ok", 1),
        job("noskill", 2, skills=frozenset({"escort"})),
        job("short", 3, start=600, end=620, duration=30),
        job("far", 4, lat=29.80, lon=106.70),
        job("sex", 5, skills=frozenset({"bathing"}), same_sex=True, resident_sex=Sex.FEMALE),
        job("pair", 6, skills=frozenset({"bathing"}), carers=2),
        job("night", 7, start=1100, end=1300),
    ]
    prob = problem(carers, tasks)
    able, unable = precheck(prob, places(prob))
    expected = {
        "noskill": ReasonCode.MISSING_SKILL,
        "short": ReasonCode.WINDOW_TOO_SHORT,
        "far": ReasonCode.OUTSIDE_CIRCLE,
        "sex": ReasonCode.NO_SAME_SEX,
        "pair": ReasonCode.NOT_ENOUGH_CARERS,
        "night": ReasonCode.NO_SHIFT,
    }
    assert {u.task_id: u.code for u in unable} == expected
    assert set(able) == {"ok"}
    plan = solve(prob, time_limit_s=1)
    assert _reasons(plan) == expected
    assert "15-minute circle" in next(u.reason for u in plan.unassigned if u.task_id == "far")
    assert_sound(plan)
    assert verify_plan(plan) == []


def test_no_caregivers_is_a_status_not_a_crash() -> None:
    plan = solve(problem([], [job("a", 1), job("b", 2)]), time_limit_s=1)
    assert plan.status is not SolveStatus.OPTIMAL or plan.unassigned
    assert {u.task_id for u in plan.unassigned} == {"a", "b"}
    assert all(u.reason for u in plan.unassigned)


def test_low_priority_tasks_are_dropped_first() -> None:
    carers = [carer("ann", shifts=(Window(start=480, end=630),))]
    tasks = [job(f"hi{i}", 1, start=480, end=630, duration=30, priority=5) for i in range(3)]
    tasks += [job(f"lo{i}", 1, start=480, end=630, duration=30, priority=1) for i in range(3)]
    plan = solve(problem(carers, tasks), time_limit_s=1)
    assert_sound(plan)
    served = {v.task_id for r in plan.routes for v in r.visits}
    assert {"hi0", "hi1", "hi2"} <= served
    assert len(served) == 4  # 150 min shift, ~6 min travel: four 30-min visits fit, not five
    assert all(u.code is ReasonCode.DROPPED for u in plan.unassigned)
    assert {u.task_id for u in plan.unassigned} == {"lo0", "lo1", "lo2"} - served


def test_max_work_minutes_bounds_the_day() -> None:
    carers = [carer("ann", max_work_minutes=200)]
    tasks = [job("early", 1, start=480, end=540), job("late", 2, start=900, end=1000)]
    plan = solve(problem(carers, tasks), time_limit_s=1)
    assert_sound(plan)
    route = plan.routes[0]
    assert len(route.visits) == 1  # both would need a 480..~930 day
    assert route.back - route.depart <= 200
    assert verify_plan(plan) == []


def test_double_handed_visits_start_together() -> None:
    carers = [carer(f"c{i}", skills={"bathing"}) for i in range(4)]
    tasks: list[Task] = [
        job(
            f"bath{i}",
            i,
            start=480 + 60 * i,
            end=600 + 60 * i,
            duration=40,
            skills=frozenset({"bathing"}),
            carers=2,
        )
        for i in range(4)
    ]
    tasks.append(job("solo", 5))
    plan = solve(problem(carers, tasks), time_limit_s=2)
    assert plan.unassigned == ()
    assert_sound(plan)
    assert verify_plan(plan) == []


def test_long_day_takes_its_break_in_the_window() -> None:
    rule = BreakRule(duration=45, earliest=700, latest=800, min_day_minutes=300)
    carers = [carer("ann", break_rule=rule)]
    tasks = [job(f"v{i}", i, start=480, end=1020, duration=50) for i in range(7)]
    plan = solve(problem(carers, tasks), time_limit_s=2)
    assert_sound(plan)
    rests = [b for b in plan.routes[0].breaks if b.kind == "rest"]
    assert len(rests) == 1
    assert rests[0].start >= 700
    assert rests[0].end <= 800
    assert rests[0].end - rests[0].start == 45
    assert verify_plan(plan) == []


def test_preferred_caregiver_gets_the_visit_when_free() -> None:
    carers = [carer("ann"), carer("bea"), carer("cal")]
    tasks = [
        job(f"v{i}", i, start=480 + 60 * i, end=600 + 60 * i, preferred_caregiver="cal") for i in range(4)
    ]
    tasks.append(job("other", 5, preferred_caregiver="bea"))
    plan = solve(problem(carers, tasks), time_limit_s=1)
    assert_sound(plan)
    by_task = {v.task_id: r.caregiver_id for r in plan.routes for v in r.visits}
    assert all(by_task[f"v{i}"] == "cal" for i in range(4))
    assert by_task["other"] == "bea"


def test_bad_time_limit_is_an_invalid_problem() -> None:
    with pytest.raises(InvalidProblem):
        solve(problem([carer("ann")], [job("a", 1)]), time_limit_s=0)


def test_split_shift_and_two_windows() -> None:
    rule = BreakRule(duration=30, earliest=700, latest=800, min_day_minutes=360)
    carers = [carer("ann", shifts=(Window(start=480, end=720), Window(start=900, end=1140)), break_rule=rule)]
    tasks = [
        job("am", 1, start=480, end=600, duration=40),
        job("either", 2, duration=30, windows=(Window(start=600, end=640), Window(start=950, end=1000))),
        job("gap", 3, start=750, end=850, duration=30),  # only while ann is off shift
        job("pm", 4, start=900, end=1100, duration=60),
    ]
    plan = solve(problem(carers, tasks), time_limit_s=1)
    assert_sound(plan)
    assert verify_plan(plan) == []
    assert _reasons(plan) == {"gap": ReasonCode.NO_SHIFT}
    route = plan.routes[0]
    assert [v.task_id for v in route.visits if v.task_id != "either"] == ["am", "pm"]
    for v in route.visits:
        assert any(s.start <= v.start and v.end <= s.end for s in carers[0].shifts)
    assert any(b.kind == "off_shift" and b.start == 720 and b.end == 900 for b in route.breaks)
    assert route.back - route.depart - 180 <= carers[0].max_work_minutes


def test_two_stations_each_serve_their_own_circle() -> None:
    north = Station(id="n", lat=29.76, lon=106.63, mode=TravelMode.WALK)
    carers = [carer("ann"), carer("nat", station_id="n")]
    tasks = [
        job("home-s", 1),
        job("home-n", 1, lat=29.7605, lon=106.6305),
        job("between", 1, lat=29.74, lon=106.63),
    ]
    prob = Problem(stations=(STATION, north), caregivers=tuple(carers), tasks=tuple(tasks))
    plan = solve(prob, time_limit_s=1)
    assert_sound(plan)
    assert verify_plan(plan) == []
    by_task = {v.task_id: r.caregiver_id for r in plan.routes for v in r.visits}
    assert by_task == {"home-s": "ann", "home-n": "nat"}
    assert _reasons(plan) == {"between": ReasonCode.OUTSIDE_CIRCLE}
