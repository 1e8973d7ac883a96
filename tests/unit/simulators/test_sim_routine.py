from __future__ import annotations

import itertools
import statistics
from datetime import datetime
from functools import lru_cache

from devices.types import DeviceKind, Reading
from simulators.engine import HomeSim
from simulators.home import build_home
from simulators.resident import COOK, OUT, VISIT, Activity, make_persona, plan_day
from tests.unit.simulators.sim_helpers import START, TZ, readings_of, run_days

DAYS = 14
RESIDENTS = [f"h{n:05d}" for n in range(1, 9)]


def _minutes(ts: datetime) -> float:
    local = ts.astimezone(TZ)
    return local.hour * 60 + local.minute + local.second / 60


def _wake_times(readings: list[Reading]) -> list[float]:
    """Per day, the first time the bed empties after 04:00 and stays empty for 45 minutes (from sensors)."""
    bed = [r for r in readings if r.kind is DeviceKind.BED and "occupancy" in r.values]
    wakes: dict[object, float] = {}
    for this, nxt in itertools.pairwise(bed):
        day = this.ts.astimezone(TZ).date()
        if this.values["occupancy"] or _minutes(this.ts) < 240 or day in wakes:
            continue
        if (nxt.ts - this.ts).total_seconds() >= 45 * 60:
            wakes[day] = _minutes(this.ts)
    return list(wakes.values())


@lru_cache(maxsize=32)
def _simulate(resident: str, *, irregular: bool | None = None) -> tuple[list[Reading], list[Activity], float]:
    home = build_home(resident, seed=3)
    persona = make_persona(resident, seed=3, irregular=irregular)
    sim = HomeSim(home, start=START, days=DAYS, seed=3, persona=persona)
    days = run_days(sim)
    return readings_of(days), [a for d in days for a in d.activities], persona.wake


def test_wake_times_cluster_around_each_residents_habit() -> None:
    means, spreads = [], []
    for resident in RESIDENTS:
        readings, _, habit = _simulate(resident, irregular=False)
        wakes = _wake_times(readings)
        assert len(wakes) == DAYS
        # weekends shift wake-up by up to 40 min, so allow that on top of day-to-day noise
        assert abs(statistics.mean(wakes) - habit) < 25
        means.append(statistics.mean(wakes))
        spreads.append(statistics.stdev(wakes))
    assert max(spreads) < 35
    assert statistics.mean(spreads) < statistics.stdev(means)


def test_lunch_times_cluster_and_kitchen_motion_follows_cooking() -> None:
    means, spreads = [], []
    for resident in RESIDENTS:
        readings, acts, _ = _simulate(resident, irregular=False)
        lunches = [_minutes(datetime.fromtimestamp(a.start, TZ)) for a in acts if a.what == COOK]
        lunches = [m for m in lunches if 10.5 * 60 <= m <= 14 * 60]
        assert len(lunches) >= DAYS - 2  # an outing may push lunch a little, never skip it often
        means.append(statistics.mean(lunches))
        spreads.append(statistics.stdev(lunches))
        kitchen = [
            r.ts.timestamp()
            for r in readings
            if r.device_id.endswith("kitchen-motion") and r.values.get("occupancy")
        ]
        cooks = [a.start for a in acts if a.what == COOK]
        assert all(any(0 <= k - c < 120 for k in kitchen) for c in cooks)
    assert statistics.mean(spreads) < 30
    assert max(means) - min(means) > 2 * statistics.mean(spreads)


def test_irregular_residents_vary_more() -> None:
    regular = statistics.stdev(_wake_times(_simulate("h00042", irregular=False)[0]))
    irregular = statistics.stdev(_wake_times(_simulate("h00042", irregular=True)[0]))
    assert irregular > regular * 1.5


def test_night_time_activity_is_low_and_outings_and_visits_happen() -> None:
    night = day = 0
    outing_days, visits = set(), 0
    for resident in RESIDENTS:
        readings, acts, _ = _simulate(resident, irregular=None)
        for r in readings:
            if r.kind is DeviceKind.MOTION and r.values.get("occupancy"):
                hour = r.ts.astimezone(TZ).hour
                night += 1 <= hour < 4
                day += 9 <= hour < 12
        outs = [a for a in acts if a.what == OUT]
        assert len(outs) >= 2, resident  # everyone goes out now and then over two weeks
        outing_days |= {(resident, datetime.fromtimestamp(a.start, TZ).date()) for a in outs}
        visits += sum(a.what == VISIT for a in acts)
        opens = [r for r in readings if r.kind is DeviceKind.DOOR and r.values.get("contact") is False]
        assert len(opens) >= 2 * len(outs)  # out and back through the front door
    assert night * 10 < day
    assert len(outing_days) > 0.4 * DAYS * len(RESIDENTS)
    assert visits >= 3


def test_day_plan_is_gap_free_and_starts_and_ends_in_bed() -> None:
    persona = make_persona("h00001", seed=1)
    for d in range(7):
        midnight = START.replace(day=START.day + d)
        acts = plan_day(persona, midnight=midnight, day_index=d, seed=1)
        assert acts[0].start == midnight.timestamp()
        assert acts[-1].end == midnight.timestamp() + 86400
        assert all(a.end == b.start for a, b in itertools.pairwise(acts))
        assert acts[0].what == "sleep"
        assert acts[-1].what == "sleep"


def test_weekend_days_differ_from_weekdays() -> None:
    persona = make_persona("h00003", seed=5, irregular=False)
    wakes: dict[bool, list[float]] = {}
    for d in range(28):
        midnight = datetime.fromtimestamp(START.timestamp() + d * 86400, TZ)
        acts = plan_day(persona, midnight=midnight, day_index=d, seed=5)
        wash = next(a for a in acts if a.what == "wash")
        wakes.setdefault(midnight.weekday() >= 5, []).append(wash.start - midnight.timestamp())
    shift = (statistics.mean(wakes[True]) - statistics.mean(wakes[False])) / 60
    assert abs(shift - persona.weekend_shift) < 20
