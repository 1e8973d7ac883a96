"""Getting up in the morning: when the resident woke today, and the personal deadline learned from past wakes.

A carer counts someone as up once they are out of bed for good (the bed sensor vacated for
``UP_OUT_OF_BED``, which a night toilet trip is not) or active outside the bedroom and bathroom; the
deadline is the person's usual wake time for that kind of day plus a margin that shrinks as their
mornings are regular.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.rules.state import Episodes, HomeState

UP_FROM_HOUR, UP_UNTIL_HOUR = 4, 14
UP_OUT_OF_BED = timedelta(minutes=15)  # out of bed this long: up (a night toilet trip takes 2-10 min)
MAX_WAKE_LEAD = timedelta(hours=2)  # bed left at most this long before first being seen up: woke then
MIN_WAKES = 5
MIN_WEEKEND_WAKES = 3  # weekend mornings of their own once this many were seen
WAKE_K = 2.5  # margin = WAKE_K x the day-to-day spread of the wake time...
WAKE_MARGIN_RANGE = (30.0, 120.0)  # ...clipped to this (minutes)
LATEST_DEADLINE = 13 * 60.0


def _in_morning(local: datetime) -> bool:
    return UP_FROM_HOUR <= local.hour < UP_UNTIL_HOUR


def woke_on(state: HomeState, tz: ZoneInfo, day: date) -> bool:
    """Whether the resident got up (from 04:00 local) on ``day``."""
    woke = state.woke_at
    return woke is not None and woke.astimezone(tz).date() == day and _in_morning(woke.astimezone(tz))


def _record(state: HomeState, tz: ZoneInfo, woke: datetime, episodes: Episodes | None, record: bool) -> None:
    state.woke_at = woke
    local = woke.astimezone(tz)
    if episodes is not None and record:
        episodes.wakes.append(local.hour * 60 + local.minute)
        episodes.wake_days.append((local.hour * 60 + local.minute, local.weekday()))


def note_up_activity(
    state: HomeState, tz: ZoneInfo, t: datetime, *, episodes: Episodes | None, record: bool = True
) -> None:
    """Activity outside bedroom and bathroom at ``t`` (a morning hour): up, since leaving bed if that was
    shortly before."""
    local = t.astimezone(tz)
    if not _in_morning(local) or woke_on(state, tz, local.date()):
        return
    left = state.bed_left_at
    woke = t
    if left is not None and state.bed_since is None and timedelta(0) <= t - left <= MAX_WAKE_LEAD:
        left_local = left.astimezone(tz)
        if left_local.date() == local.date() and _in_morning(left_local):
            woke = left
    _record(state, tz, woke, episodes, record)


def confirm_wake(state: HomeState, tz: ZoneInfo, now: datetime, *, episodes: Episodes | None = None) -> None:
    """Out of bed for ``UP_OUT_OF_BED`` since a morning hour: up since leaving the bed."""
    left = state.bed_left_at
    if left is None or state.bed_since is not None or now - left < UP_OUT_OF_BED:
        return
    local = left.astimezone(tz)
    if _in_morning(local) and not woke_on(state, tz, local.date()):
        _record(state, tz, left, episodes, True)


def getting_up(state: HomeState, tz: ZoneInfo, local_now: datetime) -> bool:
    """Out of bed since a morning hour today, not yet long enough to count as up (or a toilet trip)."""
    left = state.bed_left_at
    if left is None or state.bed_since is not None:
        return False
    local = left.astimezone(tz)
    return local.date() == local_now.date() and _in_morning(local)


def wake_deadlines(times: Sequence[tuple[float, int]]) -> tuple[float, float] | None:
    """Not-up deadlines (local minutes) for weekdays and weekends from past ``(minute, weekday)`` wakes.

    Each kind of day has its usual (median) wake time when it was seen ``MIN_WEEKEND_WAKES`` times (else
    the days pool); the margin is ``WAKE_K`` times the spread of the wakes around their day's usual time
    (the person's regularity), clipped to ``WAKE_MARGIN_RANGE``.

    Returns:
        ``(weekday, weekend)`` deadlines, or None with fewer than ``MIN_WAKES`` wakes.
    """
    if len(times) < MIN_WAKES:
        return None
    weekday = [m for m, d in times if d < 5]
    weekend = [m for m, d in times if d >= 5]
    pooled = statistics.median([m for m, _ in times])
    usual_weekday = statistics.median(weekday) if len(weekday) >= MIN_WEEKEND_WAKES else pooled
    usual_weekend = statistics.median(weekend) if len(weekend) >= MIN_WEEKEND_WAKES else pooled
    residuals = [m - (usual_weekend if d >= 5 else usual_weekday) for m, d in times]
    spread = statistics.stdev(residuals)
    lo, hi = WAKE_MARGIN_RANGE
    margin = min(max(WAKE_K * spread, lo), hi)
    return min(usual_weekday + margin, LATEST_DEADLINE), min(usual_weekend + margin, LATEST_DEADLINE)
