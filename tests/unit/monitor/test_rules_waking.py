from datetime import datetime, timedelta

import pytest

from devices.types import Reading
from monitor.rules import AlertKind, Baseline, ResidentSettings, RuleConfigError, validate_settings
from monitor.rules.baseline import build_baseline, episodes_from_readings
from monitor.rules.waking import WAKE_MARGIN_RANGE, wake_deadlines
from tests.unit.monitor.rules_helpers import DEVICES, Home, at, kinds, make_home

SEVEN = Baseline(wake_deadline_min=7 * 60)  # not up by 07:00 is late for this resident


def _asleep(home: Home, day: int) -> None:
    """In bed from 22:00 the evening before ``day``."""
    home.motion("m-bed", at(day - 1, 21, 58))
    home.read("bed-1", at(day - 1, 22), occupancy=True)


def _toilet(home: Home, day: int, hour: int, minute: int, *, back: bool = True) -> None:
    left = at(day, hour, minute)
    home.read("bed-1", left, occupancy=False)
    home.motion("m-bath", left + timedelta(minutes=1))
    if back:
        home.motion("m-bed", left + timedelta(minutes=5))
        home.read("bed-1", left + timedelta(minutes=6), occupancy=True)


def test_out_of_bed_for_good_is_up_without_leaving_bedroom_and_bathroom() -> None:
    home = make_home()
    home.baseline = SEVEN
    _asleep(home, 5)
    _toilet(home, 5, 6, 10, back=False)  # got up at 06:10: a long wash...
    for m in range(12, 40, 3):
        home.motion("m-bath" if m < 30 else "m-bed", at(5, 6, m))  # ...then dressing in the bedroom
    assert home.state.woke_at == at(5, 6, 10)  # up since leaving the bed, not since the kitchen
    assert "not_up" not in kinds(home.ticks(at(5, 6, 40), at(5, 9, 0)))


def test_night_toilet_trip_is_not_getting_up() -> None:
    home = make_home()
    home.baseline = SEVEN
    _asleep(home, 5)
    _toilet(home, 5, 5, 0)  # 6 minutes out of bed at 05:00, then back to sleep
    assert home.state.woke_at is None
    assert home.ticks(at(5, 5, 10), at(5, 6, 55)) == []
    (c,) = home.tick(at(5, 7, 0))
    assert (c.kind, c.started_at) == (AlertKind.NOT_UP, at(5, 7, 0))
    home.read("bed-1", at(5, 7, 20), occupancy=False)
    home.motion("m-liv", at(5, 7, 22))
    assert kinds(home.log, cleared=True) == ["not_up"]


def test_out_of_bed_at_the_deadline_waits_and_back_in_bed_is_not_up() -> None:
    getting_up = make_home()
    getting_up.baseline = SEVEN
    _asleep(getting_up, 5)
    _toilet(getting_up, 5, 6, 55, back=False)
    assert "not_up" not in kinds(
        getting_up.ticks(at(5, 7, 0), at(5, 9, 0))
    )  # out of bed since 06:55: getting up
    assert getting_up.state.woke_at == at(5, 6, 55)
    back = make_home()
    back.baseline = SEVEN
    _asleep(back, 5)
    _toilet(back, 5, 6, 55, back=False)  # a toilet trip across the deadline...
    assert back.ticks(at(5, 6, 56), at(5, 7, 0), step_min=1) == []
    back.motion("m-bed", at(5, 7, 0))
    (c,) = back.read("bed-1", at(5, 7, 1), occupancy=True)  # ...then back to bed at 07:01
    assert (c.kind, c.detected_at) == (AlertKind.NOT_UP, at(5, 7, 1))
    assert back.state.woke_at is None


def test_no_activity_since_monitoring_began_is_not_up() -> None:
    home = make_home()
    home.baseline = SEVEN
    home.read("temp-1", at(4, 23, 50), temperature=21.0)  # watched all night, asleep since before
    home.read("temp-1", at(5, 6, 50), temperature=20.5)
    assert kinds(home.tick(at(5, 7, 5))) == ["not_up"]
    empty = make_home(without=tuple(k for k in DEVICES if k not in ("temp-1", "sos-1")))
    empty.baseline = SEVEN
    empty.read("temp-1", at(4, 23, 50), temperature=21.0)
    assert "not_up" not in kinds(empty.tick(at(5, 9, 0)))  # nothing could show getting up: no alarm


def _wakes(minutes: list[float], weekdays: list[int]) -> list[tuple[float, int]]:
    return list(zip(minutes, weekdays, strict=True))


def test_deadline_is_the_usual_wake_plus_a_margin_that_shrinks_with_regularity() -> None:
    assert wake_deadlines(_wakes([400, 410, 420, 430], [0, 1, 2, 3])) is None  # too few mornings
    regular = _wakes([415, 420, 418, 422, 420, 425, 417, 421, 419, 423], [0, 1, 2, 3, 4] * 2)
    weekday, weekend = wake_deadlines(regular) or (0, 0)
    assert weekday == weekend == 420 + WAKE_MARGIN_RANGE[0]  # spread ~3 min: the smallest margin
    irregular = _wakes([360, 400, 440, 480, 380, 460, 420, 420, 350, 490], [0, 1, 2, 3, 4] * 2)
    weekday, _ = wake_deadlines(irregular) or (0, 0)
    assert 420 + 100 < weekday <= 420 + WAKE_MARGIN_RANGE[1]
    sleeps_in = _wakes([420, 421, 419, 420, 422, 480, 482, 478, 420, 419], [0, 1, 2, 3, 4, 5, 6, 5, 0, 1])
    weekday, weekend = wake_deadlines(sleeps_in) or (0, 0)
    assert (weekday, weekend) == (420 + 30, 480 + 30)  # an hour later on weekends, as regular
    base = Baseline(wake_deadline_min=450, wake_deadline_weekend_min=510)
    assert base.wake_deadline(at(2, 0).date()) == 510  # 2 March 2024: a Saturday
    assert base.wake_deadline(at(4, 0).date()) == 450
    assert Baseline.from_json(base.to_json()) == base


def test_learned_wake_times_come_from_leaving_bed() -> None:
    ctx = make_home().ctx
    readings, seq = [], 0
    for day in range(1, 16):
        got_up = at(day, 6, 30) + timedelta(minutes=(day * 7) % 20)
        for device, t, values in (
            ("bed-1", at(day, 0, 0) - timedelta(hours=2), {"occupancy": True}),
            ("bed-1", got_up, {"occupancy": False}),
            ("m-bath", got_up + timedelta(minutes=1), {"occupancy": True}),
            ("m-bed", got_up + timedelta(minutes=16), {"occupancy": True}),
            ("m-kit", got_up + timedelta(minutes=40), {"occupancy": True}),
        ):
            seq += 1
            readings.append(Reading(device, t, seq, DEVICES[device].kind, values))
    episodes = episodes_from_readings(readings, ctx)
    assert episodes.wakes[:3] == [6 * 60 + 37, 6 * 60 + 44, 6 * 60 + 31]  # bed left, not the kitchen
    assert [d for _, d in episodes.wake_days[:2]] == [4, 5]  # 1 and 2 March 2024: Friday, Saturday
    base = build_baseline(episodes=episodes, rollups=[], tz=ctx.tz, now=at(16, 0))
    assert 6 * 60 + 55 <= base.wake_deadline_min <= 7 * 60 + 30


def test_away_period_suppresses_routine_alarms_only_while_it_lasts() -> None:
    settings = validate_settings(
        {"away_periods": [{"start": at(5, 9).isoformat(), "end": at(7, 9).isoformat(), "reason": "hospital"}]}
    )
    assert [settings.away_at(t) for t in (at(5, 8, 59), at(5, 9), at(7, 8, 59), at(7, 9))] == [0, 1, 1, 0]
    home = make_home()
    home.settings = settings
    home.motion("m-liv", at(5, 8, 50))
    home.read("door-front", at(5, 8, 55), contact=False)
    home.read("door-front", at(5, 8, 56), contact=True)
    assert home.ticks(at(5, 9), at(7, 8, 55), step_min=30) == []  # two days out: no alarm, no notice
    sos = home.read("sos-1", at(6, 12), action="sos")
    assert kinds(sos) == ["sos"]  # never suppressed
    out = home.ticks(at(7, 9), at(7, 23), step_min=10)
    (c,) = [c for c in out if not c.clear]  # not back when the period ended: timers count from its end
    assert c.kind == AlertKind.NO_ACTIVITY
    assert c.started_at == at(7, 9)
    assert c.detected_at >= at(7, 9) + timedelta(hours=12)


def test_away_period_counts_against_the_data_clock_and_ends_inactivity_from_its_end() -> None:
    home = make_home()
    home.settings = ResidentSettings.model_validate(
        {"away_periods": [{"start": at(5, 10).isoformat(), "end": at(5, 16).isoformat()}]}
    )
    home.motion("m-bath", at(5, 9, 50))
    assert home.ticks(at(5, 9, 55), at(5, 15, 55)) == []  # would be bathroom inactivity at 10:20
    (c,) = [c for c in home.ticks(at(5, 16), at(5, 17)) if not c.clear]
    assert (c.kind, c.started_at, c.detected_at) == (AlertKind.INACTIVITY, at(5, 16), at(5, 16, 30))


@pytest.mark.parametrize(
    ("period", "field", "reason"),
    [
        (
            {"start": "2024-03-05T10:00+08:00", "end": "2024-03-05T09:00+08:00"},
            "away_periods.0",
            "after start",
        ),
        ({"start": "2024-03-05T10:00", "end": "2024-03-06T09:00+08:00"}, "away_periods.0.start", "timezone"),
        ({"start": "2024-03-05T10:00Z", "end": "2025-04-05T09:00Z"}, "away_periods.0", "at most 366 days"),
        (
            {"start": "2024-03-05T10:00Z", "end": "2024-03-06T09:00Z", "reason": "x"},
            "away_periods.0.reason",
            "",
        ),
    ],
)
def test_bad_away_period_is_refused_with_field_and_reason(
    period: dict[str, str], field: str, reason: str
) -> None:
    with pytest.raises(RuleConfigError) as info:
        validate_settings({"away_periods": [period]})
    assert field in [f for f, _ in info.value.errors]
    assert reason in info.value.message


def test_reading_clock_not_wall_clock() -> None:
    now = datetime(2016, 7, 15, 12, tzinfo=at(1, 0).tzinfo)
    settings = validate_settings(
        {"away_periods": [{"start": "2016-07-14T12:00+08:00", "end": "2016-07-16T18:00+08:00"}]}
    )
    assert settings.away_at(now)
    assert settings.back_since(now) is None
    assert settings.back_since(now + timedelta(days=2)) == datetime.fromisoformat("2016-07-16T18:00+08:00")
