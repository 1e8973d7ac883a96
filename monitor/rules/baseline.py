"""A resident's learned routine: per room and hour inactivity limits, wake time, water, bathroom and outings.

Built by pure functions from behaviour episodes (replayed readings) and the hourly per-room activity rollups;
sensible defaults until about two weeks of data exist, blended in as data accrues. Limits are in minutes at
sensitivity 1.0; the rules scale them by the resident's sensitivity.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Self
from zoneinfo import ZoneInfo

from devices.types import Reading
from monitor.rules.context import HomeContext, ResidentSettings, Window
from monitor.rules.signals import advance, apply_reading
from monitor.rules.state import Episodes, HomeState
from monitor.rules.waking import wake_deadlines

LEARN_DAYS = 14.0
MIN_SAMPLES = 8
SLOT_TRUST_DAYS = 4  # a room key seen around an hour on this many days: its own spells set the limit
# Inactivity limits with no history (minutes): (day, night). Night is 21:00-07:00 local. A still person in
# the bathroom, kitchen, hallway, or in the bedroom but off the bed (homes with a bed sensor) may be lying on the floor:
# urgent sooner than one asleep in bed. Bedroom limits without a bed sensor are those of "bed" (see routine).
DEFAULT_GAP: dict[str, tuple[float, float]] = {
    "bathroom": (30, 45),
    "bedroom": (45, 60),
    "bed": (180, 660),
    "kitchen": (45, 60),
    "hallway": (45, 60),  # a passage: nobody sits in it, someone lying still there is down
    "living_room": (150, 300),
    "chair": (180, 300),
}
OTHER_GAP = (120, 300)
GAP_CAP: dict[str, tuple[float, float]] = {
    "bathroom": (60, 75),
    "bedroom": (120, 180),
    "kitchen": (120, 180),
    "hallway": (120, 180),
    "bed": (300, 720),
}
OTHER_CAP = (240, 480)
# Learned limits never go below these: dozing in the chair or asleep in bed is normal however still.
GAP_FLOOR: dict[str, float] = {
    "bathroom": 20,
    "kitchen": 30,
    "bedroom": 30,
    "living_room": 60,
    "chair": 90,
    "bed": 180,
}
DEFAULT_WAKE_DEADLINE = 9 * 60 + 30  # 08:30 usual + 60 min margin (learned: see waking.wake_deadlines)
DEFAULT_WATER_GAP = 14 * 60.0
DEFAULT_MORNING_WATER = 45.0  # up (out of bedroom and bathroom) this long without any water used today
DEFAULT_BATHROOM_STAY = 75.0
DEFAULT_NIGHT_OUTING = 30.0
DEFAULT_OUTING = 12 * 60.0
Rollup = tuple[datetime, str, int]  # (hour_start, room, activity count)


def is_night_hour(hour: int) -> bool:
    return hour >= 21 or hour < 7


def default_gap(key: str, hour: int) -> float:
    """The no-history inactivity limit for a room key ("bed"/"chair" while occupied) at a local hour."""
    day, night = DEFAULT_GAP.get(key, OTHER_GAP)
    return night if is_night_hour(hour) else day


@dataclass
class Baseline:
    """What is normal for one resident; JSON-serialisable (``to_json``/``from_json``)."""

    days_of_data: float = 0.0
    gap_limit_min: dict[str, list[float]] = field(default_factory=dict)  # room key -> 24 hourly limits
    wake_deadline_min: float = DEFAULT_WAKE_DEADLINE  # local minutes after midnight, margin included
    wake_deadline_weekend_min: float | None = None  # the same on Saturdays and Sundays (None: as weekdays)
    water_gap_limit_min: float = DEFAULT_WATER_GAP
    bathroom_stay_limit_min: float = DEFAULT_BATHROOM_STAY
    night_outing_limit_min: float = DEFAULT_NIGHT_OUTING
    outing_limit_min: float = DEFAULT_OUTING
    room_hourly: dict[str, list[float]] = field(default_factory=dict)  # mean activity count per local hour
    daily_activity_median: float | None = None
    recent_activity_ratio: float | None = None  # highest of the last 3 days / usual daily activity

    def gap_limit(self, key: str, hour: int) -> float:
        limits = self.gap_limit_min.get(key)
        return limits[hour % 24] if limits else default_gap(key, hour)

    def wake_deadline(self, day: date) -> float:
        """The not-up deadline (local minutes after midnight, sensitivity 1.0) on ``day``."""
        weekend = self.wake_deadline_weekend_min
        return weekend if weekend is not None and day.weekday() >= 5 else self.wake_deadline_min

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls(**json.loads(text))


def episodes_from_readings(
    readings: Iterable[Reading], ctx: HomeContext, *, night: Window | None = None
) -> Episodes:
    """Replay historical readings (any order) through the engine's own state tracking and collect episodes.

    Args:
        readings: a home's readings, e.g. the last 28 days.
        ctx: the home (devices, timezone).
        night: the night window for front-door episodes (the settings' default when None).

    Returns:
        The completed inactivity gaps, wake times, water gaps, bathroom stays and outings.
    """
    window = night or ResidentSettings().night
    state, episodes = HomeState(), Episodes()
    for reading in sorted(readings, key=lambda r: r.ts):
        advance(state, reading.ts)
        apply_reading(state, ctx, reading, reading.ts, night=window, episodes=episodes)
    episodes.trim()
    return episodes


def build_baseline(*, episodes: Episodes, rollups: Sequence[Rollup], tz: ZoneInfo, now: datetime) -> Baseline:
    """Learn a baseline, blended with the defaults by how many days of data exist (full weight at 14).

    Args:
        episodes: from ``episodes_from_readings`` (or accumulated live by the engine).
        rollups: hourly per-room activity counts ``(hour_start, room, count)``, e.g. the last 35 days.
        tz: the home's timezone (hours and days are local).
        now: the current time; today's incomplete day is not used for the activity trend.

    Returns:
        The baseline, with limits at sensitivity 1.0.
    """
    daily = _daily_totals(rollups, tz, now)
    days = max(float(sum(1 for v in daily.values() if v > 0)), episodes.span_days)
    w = min(1.0, days / LEARN_DAYS)
    stays, water = episodes.bathroom_stays, episodes.water_gaps
    night_outs = [m for m, h in episodes.outings if is_night_hour(h)]
    wake = wake_deadlines(episodes.wake_days or [(m, 0) for m in episodes.wakes])
    base = Baseline(
        days_of_data=round(days, 2),
        gap_limit_min=_gap_limits(episodes.gaps, w, episodes.slot_days),
        wake_deadline_min=_blend(wake[0] if wake else None, DEFAULT_WAKE_DEADLINE, w),
        wake_deadline_weekend_min=_blend(wake[1], DEFAULT_WAKE_DEADLINE, w) if wake else None,
        water_gap_limit_min=_blend(_learn(water, 1.25, 0, (360, 1800)), DEFAULT_WATER_GAP, w),
        bathroom_stay_limit_min=_blend(_learn(stays, 1.5, 10, (30, 180)), DEFAULT_BATHROOM_STAY, w),
        night_outing_limit_min=_blend(_learn(night_outs, 1.5, 10, (20, 180), 3), DEFAULT_NIGHT_OUTING, w),
        outing_limit_min=_blend(
            _learn([m for m, _ in episodes.outings], 1.5, 0, (360, 2880), 3), DEFAULT_OUTING, w
        ),
        room_hourly=_room_hourly(rollups, tz, now),
    )
    base.daily_activity_median, base.recent_activity_ratio = _trend(daily, tz, now)
    return base


def _blend(learned: float | None, default: float, w: float) -> float:
    return default if learned is None else round(w * learned + (1 - w) * default, 1)


def _learn(
    samples: Sequence[float], factor: float, pad: float, clamp: tuple[float, float], min_n: int = 5
) -> float | None:
    if len(samples) < min_n:
        return None
    return min(max(max(samples) * factor + pad, clamp[0]), clamp[1])


def _gap_limits(
    gaps: Sequence[tuple[str, int, float]], w: float, slot_days: Mapping[str, Sequence[str]] | None = None
) -> dict[str, list[float]]:
    by_key: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key, hour, mins in gaps:
        by_key[key][hour % 24].append(mins)
    seen: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for slot, dates in (slot_days or {}).items():
        name, _, at = slot.rpartition("|")
        if at.isdigit():
            seen[name][int(at) % 24].update(dates)
    limits: dict[str, list[float]] = {}
    for key in set(by_key) | set(DEFAULT_GAP) | set(seen):
        hours, days = by_key.get(key, {}), seen.get(key, {})
        limits[key] = [_slot_limit(key, h, hours, days, w) for h in range(24)]
    return limits


def _slot_limit(
    key: str, hour: int, hours: dict[int, list[float]], days: dict[int, set[str]], w: float
) -> float:
    """The limit for ``key`` at ``hour``, learned from the person's long still spells around that hour.

    The learned limit is trusted as the history is long (``w``, full at ``LEARN_DAYS``), or sooner when the
    spells around that hour are many (``MIN_SAMPLES``) and were seen on ``SLOT_TRUST_DAYS`` different days:
    long spells at a desk or in an armchair every afternoon of a week are that person's normal (the limit
    rises above the population default), not a matter of a fortnight. Few long spells say little about
    how long the next one may last: the defaults keep their weight then.
    """
    learned = _gap_learned(key, hour, hours)
    window = [(hour + d) % 24 for d in (-1, 0, 1)]
    pool = sum(len(hours.get(h, [])) for h in window)
    known = len(set().union(*(days.get(h, set()) for h in window)))
    trust = min(1.0, known / SLOT_TRUST_DAYS) if pool >= MIN_SAMPLES else 0.0
    return _blend(learned, default_gap(key, hour), max(w, trust))


def _gap_learned(key: str, hour: int, hours: dict[int, list[float]]) -> float | None:
    pool = [m for h in (hour - 1, hour, hour + 1) for m in hours.get(h % 24, [])]
    if len(pool) < MIN_SAMPLES:  # too few around this hour: the same room over the day or the night
        pool = [m for h, ms in hours.items() if is_night_hour(h) == is_night_hour(hour) for m in ms]
    if len(pool) < MIN_SAMPLES:
        return None
    day_cap, night_cap = GAP_CAP.get(key, OTHER_CAP)
    floor = GAP_FLOOR.get(key, 30.0)
    return min(max(max(pool) * 1.25 + 5, floor), night_cap if is_night_hour(hour) else day_cap)


def _daily_totals(rollups: Sequence[Rollup], tz: ZoneInfo, now: datetime) -> dict[date, float]:
    today = now.astimezone(tz).date()
    daily: dict[date, float] = defaultdict(float)
    for hour_start, _room, count in rollups:
        day = hour_start.astimezone(tz).date()
        if day < today:
            daily[day] += count
    return daily


def _room_hourly(rollups: Sequence[Rollup], tz: ZoneInfo, now: datetime) -> dict[str, list[float]]:
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0] * 24)
    days = {h.astimezone(tz).date() for h, _, _ in rollups if h < now}
    for hour_start, room, count in rollups:
        if hour_start < now:
            sums[room][hour_start.astimezone(tz).hour] += count
    return {room: [round(v / max(1, len(days)), 2) for v in values] for room, values in sums.items()}


def _trend(daily: dict[date, float], tz: ZoneInfo, now: datetime) -> tuple[float | None, float | None]:
    today = now.astimezone(tz).date()
    recent_days = [today - timedelta(days=i) for i in (3, 2, 1)]
    ref = [v for d, v in daily.items() if today - timedelta(days=35) <= d < recent_days[0] and v > 0]
    if len(ref) < 7:
        return None, None
    rough = statistics.median(ref)
    usual = statistics.median([v for v in ref if v >= 0.1 * rough])  # days away hardly count as days
    recent = [daily.get(d, 0.0) for d in recent_days]
    if usual <= 0 or any(v < 0.1 * usual for v in recent):
        return usual, None
    return usual, round(max(recent) / usual, 3)
