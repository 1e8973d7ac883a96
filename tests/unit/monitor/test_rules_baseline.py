import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from devices.paths import shared_data_dir
from devices.types import DeviceKind, Reading, Room
from monitor.rules import (
    AlertKind,
    Baseline,
    DeviceInfo,
    Episodes,
    HomeContext,
    HomeState,
    ResidentSettings,
    build_baseline,
    episodes_from_readings,
    on_reading,
    on_tick,
)
from monitor.rules.baseline import default_gap
from tests.unit.monitor.rules_helpers import DEVICES, TZ, at, kinds

CASAS = shared_data_dir() / "casas" / "tm000.multiday_absence.txt"


def routine(days: int, seed: int = 7) -> list[Reading]:
    """A regular resident: up ~6:30, active every 10-25 min by day, bathroom trips, bed ~22:00."""
    rng, out, seq = random.Random(seed), [], 0

    def add(device: str, t: datetime, **values: object) -> None:
        nonlocal seq
        seq += 1
        out.append(Reading(device, t, seq, DEVICES[device].kind, values))

    water = 0.0
    for d in range(1, days + 1):
        t = at(d, 6, 20) + timedelta(minutes=rng.randint(0, 25))
        add("m-bath", t, occupancy=True)
        while t.hour < 22:
            t += timedelta(minutes=rng.randint(10, 25))
            add(rng.choice(["m-liv", "m-liv", "m-kit", "m-bath"]), t, occupancy=True)
            if rng.random() < 0.2:
                water += 5
                add("water-1", t, water_total_l=water)
        add("m-bed", t + timedelta(minutes=5), occupancy=True)
        add("m-bath", at(d + 1, 2, rng.randint(0, 50)), occupancy=True)
        add("m-bed", at(d + 1, 3, 0), occupancy=True)
    return out


def test_defaults_until_data_then_blended_then_personal() -> None:
    ctx = HomeContext(home_id="h", resident_id="r", devices=DEVICES)
    none = build_baseline(episodes=Episodes(), rollups=[], tz=TZ, now=at(1, 0))
    assert none.gap_limit("living_room", 14) == default_gap("living_room", 14) == 150
    week = build_baseline(episodes=episodes_from_readings(routine(7), ctx), rollups=[], tz=TZ, now=at(8, 0))
    full = build_baseline(episodes=episodes_from_readings(routine(21), ctx), rollups=[], tz=TZ, now=at(22, 0))
    assert 6 <= week.days_of_data < 8
    assert full.days_of_data >= 20
    two = build_baseline(episodes=episodes_from_readings(routine(2), ctx), rollups=[], tz=TZ, now=at(3, 0))
    learned = full.gap_limit("living_room", 14)
    # Two days: half trusted (the spells seen on 2 of SLOT_TRUST_DAYS days); a week: the slot is known.
    assert learned < two.gap_limit("living_room", 14) < 150
    assert week.gap_limit("living_room", 14) == pytest.approx(learned, abs=3)
    assert (
        learned == 60
    )  # personal (longest usual daytime gap ~25 min, plus a margin), but not under the floor
    assert 6 * 60 + 45 <= full.wake_deadline_min <= 8 * 60 + 15  # first up ~6:30-7:15, plus margin
    assert full.water_gap_limit_min != 14 * 60
    assert full.water_gap_limit_min >= 6 * 60


def test_personal_baseline_detects_daytime_stillness_within_an_hour() -> None:
    ctx = HomeContext(home_id="h", resident_id="r", devices=DEVICES)
    base = build_baseline(episodes=episodes_from_readings(routine(21), ctx), rollups=[], tz=TZ, now=at(22, 0))
    state, settings = HomeState(), ResidentSettings()
    last = at(22, 14, 3)
    on_reading(
        state, ctx, settings, base, Reading("m-liv", last, 1, DeviceKind.MOTION, {"occupancy": True}), last
    )
    fired = []
    for m in range(1, 121):
        fired += on_tick(state, ctx, settings, base, last + timedelta(minutes=m))
    (c,) = fired
    assert c.kind == AlertKind.INACTIVITY
    assert (c.detected_at - last) <= timedelta(minutes=60)


def test_baseline_and_episodes_are_json_round_trippable() -> None:
    ctx = HomeContext(home_id="h", resident_id="r", devices=DEVICES)
    ep = episodes_from_readings(routine(3), ctx)
    assert ep.gaps
    assert ep.wakes
    assert ep.bathroom_stays
    assert Episodes.from_json(ep.to_json()) == ep
    base = build_baseline(episodes=ep, rollups=[(at(1, 9), "kitchen", 12)], tz=TZ, now=at(4, 0))
    assert Baseline.from_json(base.to_json()) == base
    assert base.room_hourly["kitchen"][9] > 0


def test_activity_trend_from_rollups_ignores_days_away() -> None:
    rollups = []
    for d in range(1, 29):
        per_hour = 0 if d in (10, 11) else (6 if d >= 26 else 15)  # two days away, then a drop
        rollups += [(at(d, h), "living_room", per_hour) for h in range(7, 22)]
    base = build_baseline(episodes=Episodes(), rollups=rollups, tz=TZ, now=at(29, 8))
    assert base.daily_activity_median == 15 * 15
    assert base.recent_activity_ratio == pytest.approx(0.4)
    steady = [(t, r, 15 if t.day >= 26 else c) for t, r, c in rollups]
    assert (
        build_baseline(episodes=Episodes(), rollups=steady, tz=TZ, now=at(29, 8)).recent_activity_ratio == 1.0
    )


def _casas() -> tuple[HomeContext, list[Reading]]:
    tz = ZoneInfo("America/Los_Angeles")
    rooms = {"Bathroom": Room.BATHROOM, "Bedroom": Room.BEDROOM, "Kitchen": Room.KITCHEN, "Dining": Room.LIVING_ROOM,
             "LivingRoom": Room.LIVING_ROOM, "Hallway": Room.HALLWAY, "Entry": Room.ENTRANCE}  # fmt: skip
    devices: dict[str, DeviceInfo] = {}
    readings = []
    for i, line in enumerate(CASAS.read_text().splitlines()):
        stamp, sensor, value = line.split("\t")[:3]
        room = next((r for k, r in rooms.items() if k in sensor), Room.OTHER)
        devices[sensor.lower()] = DeviceInfo(DeviceKind.MOTION, room)
        ts = datetime.fromisoformat(stamp).replace(tzinfo=tz).astimezone(UTC)
        readings.append(Reading(sensor.lower(), ts, i, DeviceKind.MOTION, {"occupancy": value == "ON"}))
    return HomeContext(home_id="casas", resident_id="r", devices=devices, timezone=str(tz)), readings


@pytest.mark.skipif(not CASAS.exists(), reason="shared CASAS data not present")
@pytest.mark.parametrize("mark_away", [False, True])
def test_casas_week_with_two_day_absence(mark_away: bool) -> None:
    ctx, readings = _casas()
    tz = ctx.tz
    away_from, away_to = datetime(2016, 7, 13, 8, tzinfo=tz), datetime(2016, 7, 16, 19, tzinfo=tz)
    state, base, out = HomeState(), Baseline(), []
    tick = readings[0].ts
    for r in readings:
        while tick + timedelta(minutes=5) < r.ts:
            tick += timedelta(minutes=5)
            out += on_tick(
                state, ctx, ResidentSettings(away=mark_away and away_from <= tick <= away_to), base, tick
            )
        settings = ResidentSettings(away=mark_away and away_from <= r.ts <= away_to)
        out += on_reading(state, ctx, settings, base, r, r.ts)
    if mark_away:
        assert out == []
    else:  # one low "nobody seen" notice during the absence, nothing else
        assert kinds(out) == ["no_activity"]
        assert out[0].severity.value == "low"
        assert away_from <= out[0].detected_at <= away_to
