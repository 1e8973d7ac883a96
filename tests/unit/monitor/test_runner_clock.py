"""The rules process's clock: wall time in production, the ordered reading stream's time in replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.runner.clock import RulesClock

WALL = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SIM = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def test_wall_mode_is_the_wall_clock_whatever_readings_say() -> None:
    clock = RulesClock()
    assert clock.reading(SIM, wall=WALL) == WALL
    assert clock.now(wall=WALL) == WALL
    assert clock.data_now is None


def test_data_mode_follows_ordered_readings_and_never_goes_back() -> None:
    clock = RulesClock("data")
    assert clock.now(wall=WALL) == WALL  # nothing read yet
    assert clock.reading(SIM, wall=WALL) == SIM
    assert clock.reading(SIM + timedelta(minutes=5), wall=WALL) == SIM + timedelta(minutes=5)
    late = SIM + timedelta(minutes=2)
    assert clock.reading(late, wall=WALL) == late  # evaluated at its own time...
    assert clock.now(wall=WALL) == SIM + timedelta(minutes=5)  # ...and the clock stays put
    assert (clock.late, clock.late_max_s) == (1, 180.0)  # counted: it came out of order
    clock.reading(SIM + timedelta(minutes=4, seconds=30), wall=WALL)
    assert (clock.late, clock.late_max_s) == (1, 180.0)  # within a data tick: not late
    ahead = WALL + timedelta(hours=1)
    assert clock.reading(ahead, wall=WALL) == WALL + timedelta(minutes=5)  # capped at wall + future skew
    assert clock.now(wall=WALL) == WALL + timedelta(minutes=5)


def test_data_mode_ticks_each_data_minute_as_well_as_each_tick_s_of_wall_time() -> None:
    clock = RulesClock("data", tick_s=0.5, data_tick_s=60)
    assert clock.tick_due(mono=100.0) is False  # the first call starts the count
    assert clock.tick_due(mono=101.0) is True  # escalation steps run on the wall clock...
    assert not clock.has_time  # ...but no home is judged: there is no data time yet
    clock.reading(SIM, wall=WALL)
    assert clock.has_time
    assert clock.tick_due(mono=101.01) is True  # the first data time
    assert clock.tick_due(mono=200.0) is True  # (a wall tick: 0.5 s passed)
    clock.reading(SIM + timedelta(seconds=59), wall=WALL)
    assert clock.tick_due(mono=200.01) is False
    clock.reading(SIM + timedelta(seconds=61), wall=WALL)
    assert clock.tick_due(mono=200.02) is True  # a data minute passed in 0.02 s of wall time
    assert clock.now(wall=WALL) == SIM + timedelta(seconds=61)  # the tick's now: data time, never the wall
    assert clock.tick_due(mono=200.03) is False
    assert clock.tick_due(mono=200.6) is True  # no new readings: the wall tick still comes


def test_wall_mode_ticks_only_on_wall_time() -> None:
    clock = RulesClock(tick_s=15)
    assert clock.has_time
    assert clock.tick_due(mono=0.0) is False
    clock.reading(SIM, wall=WALL)
    clock.reading(SIM + timedelta(hours=1), wall=WALL)
    assert clock.tick_due(mono=14.9) is False
    assert clock.tick_due(mono=15.0) is True
    assert clock.tick_due(mono=20.0) is False
