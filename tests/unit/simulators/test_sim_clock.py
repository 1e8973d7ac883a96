from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from devices.types import Reading
from simulators.clock import SimClock, day_midnight, merge, pace, schedule
from simulators.engine import HomeSim
from simulators.errors import SimulatorError
from simulators.home import neighbourhood_home
from tests.unit.simulators.sim_helpers import START


def test_clock_maps_sim_to_wall_both_ways() -> None:
    clock = SimClock(START, wall_start=1000.0, speed=1008)  # a week in ten minutes
    week = (START + timedelta(days=7)).timestamp()
    assert clock.wall_at(week) == pytest.approx(1600.0)
    assert clock.sim_at(1600.0) == START + timedelta(days=7)
    assert SimClock(START, wall_start=5.0).wall_at(START.timestamp() + 30) == 35.0
    with pytest.raises(SimulatorError):
        SimClock(START, wall_start=0, speed=0)
    with pytest.raises(SimulatorError):
        day_midnight(START.replace(tzinfo=None), 0)


def test_accelerated_schedule_keeps_event_order_across_homes() -> None:
    sims = [HomeSim(neighbourhood_home(i, seed=9), start=START, days=2, seed=9) for i in range(6)]
    clock = SimClock(START, wall_start=0.0, speed=600)
    due = list(schedule((s.stream() for s in sims), clock=clock))
    assert len(due) > 6 * 2 * 1000
    walls = [w for w, _ in due]
    assert walls == sorted(walls)
    stamps = [item.ts for _, item in due if isinstance(item, Reading)]
    assert stamps == sorted(stamps)
    assert walls[-1] <= 2 * 86400 / 600
    homes = {item.device_id.split("-")[0] for _, item in due[:2000] if isinstance(item, Reading)}
    assert len(homes) == 6  # interleaved, not one home after the other


def test_merge_is_lazy() -> None:
    pulled: list[int] = []

    def stream(n: int) -> Iterator[tuple[float, int]]:
        for t in range(n, 100, 10):
            pulled.append(n)
            yield float(t), n

    first = next(merge([stream(n) for n in range(10)]))
    assert first == (0.0, 0)
    assert len(pulled) == 10  # one head per stream, nothing more


def test_pace_sleeps_until_due_and_can_skip_late_items() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    items = [(99.0, "late"), (101.0, "a"), (103.5, "b")]
    out = list(pace(items, now=lambda: now[0], sleep=sleep))
    assert [item for _, item in out] == ["late", "a", "b"]
    assert slept == [1.0, 2.5]
    now[0] = 200.0
    assert [i for _, i in pace(items, now=lambda: now[0], sleep=sleep, max_lag=50)] == []
