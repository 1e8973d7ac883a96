"""Precedence with gaps, soft windows, two-role pairs and free synchronised starts, solved and re-checked.

Each solver test is built so that dropping the constraint from the model changes the plan (the cheapest
plan without it breaks it), and each verifier test breaks a sound plan by hand and expects the finding.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.domain import Lateness, Role, Window
from dispatcher.scheduling.precheck import places, precheck
from dispatcher.scheduling.problem import Plan, Precedence, Problem, ReasonCode
from dispatcher.scheduling.solve import solve
from dispatcher.scheduling.verify import verify_plan

from .helpers import STATION, carer, job, problem


def _starts(plan: Plan) -> dict[str, list[tuple[str, int, int, int]]]:
    out: dict[str, list[tuple[str, int, int, int]]] = {}
    for r in plan.routes:
        for v in r.visits:
            out.setdefault(v.task_id, []).append((r.caregiver_id, v.start, v.end, v.role))
    return out


def _shift(plan: Plan, task_id: str, delta: int) -> Plan:
    """The same plan with every visit of ``task_id`` moved by ``delta`` minutes."""
    routes = []
    for r in plan.routes:
        visits = tuple(
            v.model_copy(update={"start": v.start + delta, "end": v.end + delta, "eta": v.eta + delta})
            if v.task_id == task_id
            else v
            for v in r.visits
        )
        routes.append(r.model_copy(update={"visits": visits}))
    return plan.model_copy(update={"routes": tuple(routes)})


def _gap_problem(min_gap: int, max_gap: int | None, *, two: bool) -> Problem:
    carers = [carer("ann", skills={"insulin", "meals"})]
    if two:  # insulin and meal need different people
        carers = [carer("ann", skills={"insulin"}), carer("bea", skills={"meals"})]
    tasks = [
        job("insulin", 1, duration=10, skills=frozenset({"insulin"})),
        job("meal", 1, start=480, end=900, duration=30, skills=frozenset({"meals"})),
    ]
    prec = Precedence(first="insulin", second="meal", min_gap=min_gap, max_gap=max_gap)
    return problem(carers, tasks, precedences=(prec,))


def test_precedence_gap_on_one_caregiver() -> None:
    # without the rule the meal would be first (both open at 480, the day starts at 480)
    plan = solve(_gap_problem(30, 60, two=False), time_limit_s=1)
    assert plan.unassigned == ()
    s = _starts(plan)
    assert 30 <= s["meal"][0][1] - s["insulin"][0][1] <= 60
    assert verify_plan(plan) == []


def test_precedence_gap_across_caregivers() -> None:
    plan = solve(_gap_problem(30, 60, two=True), time_limit_s=1)
    assert plan.unassigned == ()
    s = _starts(plan)
    assert {s["meal"][0][0], s["insulin"][0][0]} == {"ann", "bea"}
    assert 30 <= s["meal"][0][1] - s["insulin"][0][1] <= 60
    assert verify_plan(plan) == []


def test_max_gap_pulls_the_first_visit_late() -> None:
    # the meal can only be late in the day; without max_gap the insulin visit would be at the day's start
    carers = [carer("ann", skills={"insulin"}), carer("bea", skills={"meals"})]
    tasks = [
        job("insulin", 1, duration=10, skills=frozenset({"insulin"})),
        job("meal", 2, start=800, end=900, duration=30, skills=frozenset({"meals"})),
    ]
    prec = Precedence(first="insulin", second="meal", min_gap=30, max_gap=45)
    plan = solve(problem(carers, tasks, precedences=(prec,)), time_limit_s=1)
    s = _starts(plan)
    assert plan.unassigned == ()
    assert 30 <= s["meal"][0][1] - s["insulin"][0][1] <= 45
    assert verify_plan(plan) == []


@settings(max_examples=8, deadline=None)
@given(
    min_gap=st.integers(0, 120),
    extra=st.one_of(st.none(), st.integers(0, 90)),
    two=st.booleans(),
)
def test_precedence_holds_for_any_gap(min_gap: int, extra: int | None, two: bool) -> None:
    max_gap = None if extra is None else min_gap + extra
    plan = solve(_gap_problem(min_gap, max_gap, two=two), time_limit_s=0.5)
    assert verify_plan(plan) == []
    s = _starts(plan)
    assert plan.unassigned == ()
    gap = s["meal"][0][1] - s["insulin"][0][1]
    assert min_gap <= gap
    assert max_gap is None or gap <= max_gap
    # the verifier sees a gap broken either way
    assert verify_plan(_shift(plan, "meal", -gap + min_gap - 1))
    if max_gap is not None:
        assert verify_plan(_shift(plan, "meal", max_gap - gap + 1))


def test_precedence_needs_known_distinct_tasks() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Precedence(first="a", second="a")
    with pytest.raises(ValidationError):
        Precedence(first="a", second="b", min_gap=30, max_gap=20)
    with pytest.raises(ValidationError):
        problem([carer("ann")], [job("a", 1)], precedences=(Precedence(first="a", second="x"),))


def _late_problem(lateness: Lateness | None) -> Problem:
    # the window closes 10 min after the day starts; the home is further than that from the station
    far = job("far", 0, start=480, end=520, duration=30, lat=STATION.lat + 0.0062, lateness=lateness)
    return problem([carer("ann")], [far])


def test_hard_window_drops_what_a_soft_window_serves_late() -> None:
    hard = solve(_late_problem(None), time_limit_s=1)
    assert [u.task_id for u in hard.unassigned] == ["far"]
    soft = solve(_late_problem(Lateness(cost_per_minute=1, max_minutes=60)), time_limit_s=1)
    assert soft.unassigned == ()
    (visit,) = soft.routes[0].visits
    assert 0 < visit.late_minutes == visit.start - 490 <= 60
    assert verify_plan(soft) == []
    assert verify_plan(_shift(soft, "far", 61 - visit.late_minutes))  # past the maximum lateness
    bad = soft.model_copy(
        update={
            "routes": (
                soft.routes[0].model_copy(update={"visits": (visit.model_copy(update={"late_minutes": 0}),)}),
            )
        }
    )
    assert any("late" in p for p in verify_plan(bad))


def test_max_lateness_is_hard() -> None:
    tight = solve(_late_problem(Lateness(cost_per_minute=1, max_minutes=1)), time_limit_s=1)
    assert [u.task_id for u in tight.unassigned] == ["far"]


def test_lateness_cost_trades_against_travel() -> None:
    # two visits at the same time in different homes: one carer serves both, one late, when lateness is
    # cheap; when it is dear the second carer goes out
    def day(cost: int) -> Problem:
        late = Lateness(cost_per_minute=cost, max_minutes=120)
        tasks = [
            job("a", 1, start=480, end=540, duration=30, lateness=late),
            job("b", 1, start=480, end=540, duration=30, lateness=late),
        ]
        return problem([carer("ann"), carer("bea")], tasks, weights={"balance": 0})

    cheap, dear = solve(day(1), time_limit_s=1), solve(day(1000), time_limit_s=1)
    for plan in (cheap, dear):
        assert plan.unassigned == ()
        assert verify_plan(plan) == []
    assert sum(1 for r in cheap.routes if r.visits) == 1
    assert sum(v.late_minutes for r in cheap.routes for v in r.visits) > 0
    assert sum(1 for r in dear.routes if r.visits) == 2
    assert sum(v.late_minutes for r in dear.routes for v in r.visits) == 0


def _roles_problem() -> Problem:
    carers = [
        carer("aide1", skills={"aide"}),
        carer("aide2", skills={"aide"}),
        carer("nurse", skills={"nursing"}),
    ]
    roles = (Role(skills=frozenset({"nursing"}), duration=40), Role(skills=frozenset({"aide"}), duration=20))
    return problem(carers, [job("wound", 2, duration=40, carers=2, roles=roles)])


def test_two_roles_need_their_own_skills_and_durations() -> None:
    plan = solve(_roles_problem(), time_limit_s=1)
    assert plan.unassigned == ()
    (a, b) = sorted(_starts(plan)["wound"], key=lambda x: x[3])
    assert a[0] == "nurse"
    assert b[0].startswith("aide")
    assert a[1] == b[1]  # one common start
    assert (a[2] - a[1], b[2] - b[1]) == (40, 20)
    assert verify_plan(plan) == []
    # the verifier sees a role given to someone without its skills
    swapped = plan.model_copy(
        update={
            "routes": tuple(
                r.model_copy(
                    update={"visits": tuple(v.model_copy(update={"role": 1 - v.role}) for v in r.visits)}
                )
                for r in plan.routes
            )
        }
    )
    assert verify_plan(swapped)


def test_a_role_nobody_can_fill_is_reported() -> None:
    prob = _roles_problem()
    prob = prob.model_copy(update={"caregivers": prob.caregivers[:2]})
    _, unable = precheck(prob, places(prob))
    assert [(u.task_id, u.code) for u in unable] == [("wound", ReasonCode.MISSING_SKILL)]
    one = _roles_problem()
    both = carer("both", skills={"aide", "nursing"})
    one = one.model_copy(update={"caregivers": (both,)})
    _, unable = precheck(one, places(one))
    assert [u.code for u in unable] == [ReasonCode.NOT_ENOUGH_CARERS]


def test_pair_starts_anywhere_in_its_window() -> None:
    # the middle of the pair's window (735) is taken on both routes by fixed visits: the pair must go
    # elsewhere, which a start pinned to the middle of the window cannot
    carers = [carer("ann", skills={"a"}), carer("bea", skills={"b"})]
    tasks = [
        job("pair", 1, start=480, end=1020, duration=30, carers=2),
        job("ann-fixed", 2, start=700, end=760, duration=60, skills=frozenset({"a"})),
        job("bea-fixed", 3, start=700, end=760, duration=60, skills=frozenset({"b"})),
    ]
    plan = solve(problem(carers, tasks), time_limit_s=2)
    assert plan.unassigned == ()
    pair = _starts(plan)["pair"]
    assert pair[0][1] == pair[1][1]
    assert verify_plan(plan) == []
    broken = plan.model_copy(
        update={
            "routes": tuple(
                r.model_copy(
                    update={
                        "visits": tuple(
                            v.model_copy(update={"start": v.start + 1, "end": v.end + 1})
                            if v.task_id == "pair" and r.caregiver_id == "ann"
                            else v
                            for v in r.visits
                        )
                    }
                )
                for r in plan.routes
            )
        }
    )
    assert any("synchronised" in p for p in verify_plan(broken))


def test_soft_windows_extend_only_the_last_window() -> None:
    t = job(
        "t",
        1,
        duration=30,
        windows=(Window(start=600, end=700), Window(start=480, end=540)),
        lateness=Lateness(cost_per_minute=2, max_minutes=15),
    )
    assert t.start_ranges() == [(480, 510), (600, 685)]
    assert t.late_minutes(660) == 0
    assert t.late_minutes(680) == 10
    assert t.late_minutes(505) == 0


def test_weight_on_the_largest_lateness_sends_a_second_carer() -> None:
    # two 10-min visits due on arrival at a home 7 min out: one carer makes the second 10 min late, a
    # second carer costs 14 min of travel; only a weight on the largest lateness tips it
    def day(max_lateness: int) -> Problem:
        late = Lateness(cost_per_minute=1, max_minutes=60)
        here = {"lat": STATION.lat + 0.0035, "start": 480, "end": 497, "duration": 10, "lateness": late}
        tasks = [job("a", 0, **here), job("b", 0, **here)]  # type: ignore[arg-type]
        weights = {"balance": 0, "max_lateness": max_lateness}
        return problem([carer("ann"), carer("bea")], tasks, weights=weights)

    where = places(day(0))
    assert where.minutes[STATION.mode][0][1] == 7
    plain, fair = solve(day(0), time_limit_s=1), solve(day(1), time_limit_s=1)
    assert verify_plan(plain) == verify_plan(fair) == []
    assert sum(1 for r in plain.routes if r.visits) == 1
    assert sum(1 for r in fair.routes if r.visits) == 2


def test_urgent_replan_keeps_roles_precedences_and_lateness() -> None:
    from datetime import UTC, datetime, timedelta

    from dispatcher.domain import TaskKind
    from dispatcher.scheduling.replan import replan

    day = datetime(2026, 11, 24, tzinfo=UTC)
    carers = [
        carer("aide1", skills={"aide"}),
        carer("aide2", skills={"aide"}),
        carer("nurse", skills={"nursing", "insulin", "meals"}),
    ]
    roles = (Role(skills=frozenset({"nursing"}), duration=40), Role(skills=frozenset({"aide"}), duration=20))
    tasks = [
        job("wound", 2, start=600, end=720, duration=40, carers=2, roles=roles),
        job("insulin", 3, start=480, end=900, duration=10, skills=frozenset({"insulin"})),
        job("meal", 3, start=480, end=900, duration=30, skills=frozenset({"meals"})),
        job("late", 4, start=480, end=520, duration=30, lateness=Lateness(cost_per_minute=1, max_minutes=90)),
    ]
    prec = Precedence(first="insulin", second="meal", min_gap=30, max_gap=60)
    prob = problem(carers, tasks, horizon_start=day, precedences=(prec,))
    plan = solve(prob, time_limit_s=1)
    assert plan.unassigned == ()
    assert verify_plan(plan) == []
    urgent = job("sos", 5, start=560, end=640, duration=20, kind=TaskKind.EMERGENCY, priority=5)
    new, diff = replan(plan, urgent, day + timedelta(minutes=560), time_limit_s=1)
    assert diff.assigned_to
    assert verify_plan(new) == []
