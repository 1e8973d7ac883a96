"""A replayed CASAS log moves by whole days: every event keeps its local time of day and the log ends by now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from devices.paths import shared_data_dir
from simulators.casas import parse_casas, read_casas
from simulators.errors import ReplayError
from simulators.replay import INGEST_MAX_AGE, day_shift, replay

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHICAGO = ZoneInfo("America/Chicago")  # has DST, unlike the home's zone
DAY = timedelta(days=1)
LOG = [
    "2016-07-12 23:50:00 BedroomABed OFF",
    "2016-07-13 02:10:00 BathroomAToilet ON",  # a night-time toilet visit must stay at night
    "2016-07-13 07:05:30 KitchenASink ON",
    "2016-07-13 22:40:00 BedroomABed ON",
]


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 23, 15, 50, tzinfo=UTC),  # 23:50 in Shanghai: just before the log's own last hour
        datetime(2026, 11, 23, 14, 39, tzinfo=UTC),  # 22:39: a minute before its last event's time of day
        datetime(2026, 11, 23, 14, 40, tzinfo=UTC),  # 22:40 exactly
        datetime(2026, 3, 1, 4, 0, 0, 1, tzinfo=UTC),
    ],
)
def test_events_keep_their_local_time_of_day_and_the_log_ends_within_a_day_before_now(now: datetime) -> None:
    log = parse_casas(LOG, tz=SHANGHAI)
    first, last = log.events[0].ts, log.events[-1].ts
    shift = day_shift(first, last, now=now, max_age=INGEST_MAX_AGE)
    assert shift % DAY == timedelta(0)
    result = replay(log, home_id="casas01", start=first + shift)
    local = [(r.ts.astimezone(SHANGHAI).time(), r.device_id) for r in result.readings]
    assert local == [(e.ts.time(), f"casas01-{e.sensor.lower()}") for e in log.events]
    end = result.readings[-1].ts
    assert now - DAY < end <= now  # the latest whole-day shift that does not run into the future
    assert now - result.readings[0].ts < INGEST_MAX_AGE


def test_a_zone_with_dst_keeps_wall_clock_times_across_the_change() -> None:
    log = parse_casas(LOG, tz=CHICAGO)  # July: daylight time; now: standard time
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    first, last = log.events[0].ts, log.events[-1].ts
    shift = day_shift(first, last, now=now, max_age=INGEST_MAX_AGE)
    moved = [e.ts + shift for e in log.events]
    assert [m.astimezone(CHICAGO).time() for m in moved] == [e.ts.time() for e in log.events]
    assert now - DAY < moved[-1] <= now


def test_a_log_longer_than_ingest_takes_ends_its_first_days_by_now_and_starts_young_enough() -> None:
    path = shared_data_dir() / "casas" / "tm000.multiday_absence.txt"
    log = read_casas(path, tz=SHANGHAI)  # nearly seven days
    first, last = log.events[0].ts, log.events[-1].ts
    assert last - first > INGEST_MAX_AGE - DAY
    for hour in range(0, 24, 5):
        now = datetime(2026, 11, 23, hour, 17, tzinfo=UTC)
        start = first + day_shift(first, last, now=now, max_age=INGEST_MAX_AGE)
        assert start.astimezone(SHANGHAI).time() == first.time()
        assert now - INGEST_MAX_AGE < start <= now - (INGEST_MAX_AGE - DAY)
        # eval replay plays the first 6 days less 10 min of the log: all of it lies in the past
        assert start + timedelta(days=6) - timedelta(minutes=10) <= now


def test_naive_times_and_a_too_short_age_are_refused() -> None:
    aware = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ReplayError, match="timezone-aware"):
        day_shift(aware.replace(tzinfo=None), aware, now=aware, max_age=INGEST_MAX_AGE)
    with pytest.raises(ReplayError, match="more than a day"):
        day_shift(aware, aware, now=aware, max_age=DAY)
