"""Re-planning a day in progress (pure): history kept as it happened, only what is ahead handed to the solver."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from dispatcher.domain import BreakRule, Window
from dispatcher.scheduling.inprogress import Kept, ahead, from_minute, strip, with_history
from dispatcher.scheduling.problem import Plan, Route, Visit
from dispatcher.scheduling.solve import solve
from dispatcher.scheduling.spec import SolveStatus
from tests.unit.dispatcher.helpers import carer, job, problem


@st.composite
def shifts(draw: st.DrawFn) -> tuple[Window, ...]:
    cuts = sorted(draw(st.sets(st.integers(0, 1440), min_size=2, max_size=6)))
    pairs = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
    return tuple(Window(start=a, end=b) for a, b in pairs)


@given(shifts(), st.integers(-60, 1500), st.integers(0, 700), st.booleans())
def test_a_caregiver_from_a_minute_on_works_only_after_it(
    windows: tuple[Window, ...], free: int, spent: int, with_break: bool
) -> None:
    first, last = windows[0].start, windows[-1].end
    rule = None
    if with_break and last - first >= 40:
        rule = BreakRule(duration=30, earliest=first, latest=last, min_day_minutes=0)
    c = carer("c1", shifts=windows, break_rule=rule)
    out = from_minute(c, free, spent)
    assert out.day_end == c.day_end  # the day still ends when it did
    if free < c.day_end:
        assert all(s.start >= free for s in out.shifts)
        assert sum(s.length for s in out.shifts) == sum(max(0, s.end - max(s.start, free)) for s in c.shifts)
    else:  # no time left: one minute at the end, nothing fits
        assert sum(s.length for s in out.shifts) <= 1
    if out.break_rule is not None:
        assert out.break_rule.earliest >= out.shifts[0].start
        assert out.break_rule.latest - out.break_rule.earliest >= out.break_rule.duration
    assert out.max_work_minutes == max(1, c.max_work_minutes - spent)


@given(st.integers(0, 1440), st.lists(st.tuples(st.integers(0, 1400), st.integers(10, 300), st.integers(5, 90)),
                                      min_size=1, max_size=8))  # fmt: skip
def test_ahead_cuts_windows_at_now_and_reports_the_passed_ones(
    minute: int, specs: list[tuple[int, int, int]]
) -> None:
    tasks = [job(f"t{i}", i, start=s, end=min(1440, s + w), duration=min(d, min(1440, s + w) - s))
             for i, (s, w, d) in enumerate(specs)]  # fmt: skip
    p = problem([carer("c1"), carer("c2")], tasks)
    kept = [Kept("t0", ("c1",), 500, 530)]
    left, passed = ahead(p, kept, minute)
    ids = {t.id for t in left.tasks}
    assert "t0" not in ids
    assert "t0" not in {u.task_id for u in passed}
    assert ids | {u.task_id for u in passed} == {t.id for t in tasks} - {"t0"}
    for t in left.tasks:
        assert all(w.start >= minute and w.start + t.duration <= w.end for w in t.windows)
    c1 = next(c for c in left.caregivers if c.id == "c1")
    assert all(s.start >= max(minute, 530) for s in c1.shifts) or c1.shifts[0].length <= 1


def test_history_goes_in_front_of_the_solved_routes_and_every_task_appears_once() -> None:
    tasks = [job(f"t{i}", i, start=480, end=1020, duration=20) for i in range(6)]
    full = problem([carer("c1"), carer("c2")], tasks)
    kept = [Kept("t0", ("c1",), 485, 507), Kept("t1", ("c2",), 600, 640)]  # t1 still going on
    left, passed = ahead(full, kept, 620)
    assert passed == []
    solved = solve(left, time_limit_s=1)
    # a solver that (wrongly) also placed a history task must not make it appear twice
    extra = Visit(task_id="t0", eta=700, start=700, end=720, travel_minutes=0)
    routes = tuple(
        r.model_copy(update={"visits": (*r.visits, extra)}) if r.caregiver_id == "c2" else r
        for r in solved.routes
    )
    plan = with_history(solved.model_copy(update={"routes": routes}), kept, full)
    where = Counter(v.task_id for r in plan.routes for v in r.visits)
    assert all(n == 1 for n in where.values()), where
    c1, c2 = plan.route_of("c1"), plan.route_of("c2")
    assert c1 is not None
    assert c2 is not None
    assert (c1.visits[0].task_id, c1.visits[0].start, c1.visits[0].end) == ("t0", 485, 507)
    assert (c2.visits[0].task_id, c2.visits[0].start, c2.visits[0].end) == ("t1", 600, 640)
    assert all(v.start >= 620 for r in plan.routes for v in r.visits if v.task_id not in ("t0", "t1"))
    assert all(v.start >= 640 for v in c2.visits[1:])  # not before her visit in progress ends
    assert {t.id for t in plan.problem.tasks} == {t.id for t in tasks}
    assert plan.problem.caregivers == full.caregivers  # the stored plan keeps the real shifts

    again = strip(plan, kept)  # what an urgent insertion hands to the repair
    assert {v.task_id for r in again.routes for v in r.visits}.isdisjoint({"t0", "t1"})
    assert {t.id for t in again.problem.tasks}.isdisjoint({"t0", "t1"})


def test_a_double_handed_visit_kept_shows_on_both_routes_with_the_partner() -> None:
    full = problem([carer("c1"), carer("c2")], [job("t0", 1, carers=2)])
    empty = Plan(
        status=SolveStatus.FEASIBLE, problem=full, routes=(Route(caregiver_id="c1", depart=480, back=480),)
    )
    plan = with_history(empty, [Kept("t0", ("c1", "c2"), 500, 540)], full)
    c1, c2 = plan.route_of("c1"), plan.route_of("c2")
    assert c1 is not None
    assert c2 is not None
    assert (c1.visits[0].partner, c2.visits[0].partner) == ("c2", "c1")
