"""Routine rules, judged against the resident's own baseline: inactivity, not up, water, night exit, bathroom,
long absence and a sustained drop in activity.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from devices.types import DeviceKind, Room
from monitor.rules.baseline import DEFAULT_MORNING_WATER, Baseline, is_night_hour
from monitor.rules.candidate import Finding, iso, room_en, room_zh
from monitor.rules.context import HomeContext, ResidentSettings
from monitor.rules.kinds import AlertKind, Severity
from monitor.rules.signals import is_up_today, minutes
from monitor.rules.state import HomeState
from monitor.rules.waking import UP_FROM_HOUR, getting_up, woke_on

DECLINE_RATIO = 0.5  # all of the last three days below half the usual activity (at sensitivity 1.0)
MIN_DECLINE_DAYS = 7.0
STILL_STAY_SHARE = 0.6  # a long bathroom stay counts from 60% of the usual limit once the person is still...
STILL_GAP_MIN = 10.0  # ...for this long (no movement seen)
MORNING_WATER_LOOKBACK_MIN = 60.0  # water this long before first being up counts as the morning's


def routine_findings(
    state: HomeState, ctx: HomeContext, settings: ResidentSettings, baseline: Baseline, now: datetime
) -> list[Finding]:
    """Every routine rule that holds at ``now`` (suppression by mode is the engine's job)."""
    found: list[Finding] = []
    if state.presence == "home":
        still = inactivity(state, ctx, settings, baseline, now)
        if still is not None:
            found.append(still)
        else:
            found += _some(long_bathroom(state, settings, baseline, now))
        found += _some(not_up(state, ctx, settings, baseline, now))
        found += _some(no_water(state, ctx, settings, baseline, now))
    found += _some(night_exit(state, settings, baseline, now))
    found += _some(no_activity(state, settings, baseline, now))
    found += _some(activity_decline(settings, baseline, now))
    return found


def _some(finding: Finding | None) -> list[Finding]:
    return [finding] if finding is not None else []


def inactivity(
    state: HomeState, ctx: HomeContext, settings: ResidentSettings, baseline: Baseline, now: datetime
) -> Finding | None:
    """No movement for longer than is normal in this room at this hour (bathroom: critical)."""
    last, key = state.last_activity_at, state.last_activity_key
    if last is None or key is None:
        return None
    hour = last.astimezone(ctx.tz).hour
    usual = baseline.gap_limit(key, hour)
    if key == "bed":  # asleep since the evening: every hour slept through allows its own limit
        spanned = min(max(int((now - last).total_seconds() // 3600) + 1, 0), 24)
        usual = max(baseline.gap_limit(key, hour + h) for h in range(spanned + 1))
        if is_night_hour(hour):  # and a night's sleep lasts until their usual getting up ("not up" then)
            usual = max(usual, minutes(_wake_deadline_after(last.astimezone(ctx.tz), baseline) - last))
    limit = settings.limit_min(AlertKind.INACTIVITY, usual)
    idle = minutes(now - last)
    if idle < limit:
        return None
    bathroom = state.last_activity_room == Room.BATHROOM.value
    return Finding(
        AlertKind.INACTIVITY,
        last,
        f"{room_zh(key)}已 {idle:.0f} 分钟无活动（此时段通常不超过 {limit:.0f} 分钟）",
        f"no movement ({room_en(key)}) for {idle:.0f} min (usually under {limit:.0f} min at this hour)",
        {"room": state.last_activity_room, "key": key, "last_activity_at": iso(last), "idle_min": round(idle),
         "limit_min": round(limit)},
        Severity.CRITICAL if bathroom else Severity.HIGH,
    )  # fmt: skip


def _wake_deadline_after(local: datetime, baseline: Baseline) -> datetime:
    """The resident's not-up deadline on the morning after ``local`` (a night time), sensitivity 1.0."""
    day = local.date() if local.hour < 12 else local.date() + timedelta(days=1)
    midnight = datetime.combine(day, time(0), tzinfo=local.tzinfo)
    return midnight + timedelta(minutes=baseline.wake_deadline(day))


def long_bathroom(
    state: HomeState, settings: ResidentSettings, baseline: Baseline, now: datetime
) -> Finding | None:
    """In the bathroom far longer than usual; sooner when the stay is long and the person has gone still.

    A bath keeps a bathroom PIR busy; someone who cannot get up moves seldom. So a stay past
    ``STILL_STAY_SHARE`` of the usual limit with no movement for ``STILL_GAP_MIN`` also counts (the
    inactivity rule takes over once the stillness passes the room's limit).
    """
    since = state.bathroom_since
    if since is None:
        return None
    limit = settings.limit_min(AlertKind.LONG_BATHROOM, baseline.bathroom_stay_limit_min)
    stay = minutes(now - since)
    last = state.last_activity_at
    idle = minutes(now - last) if last is not None else 0.0
    bathroom_last = state.last_activity_room == Room.BATHROOM.value
    still = bathroom_last and stay >= limit * STILL_STAY_SHARE and idle >= STILL_GAP_MIN
    if stay < limit and not still:
        return None
    quiet = f"，已 {idle:.0f} 分钟未见活动" if still else ""
    quiet_en = f", no movement for {idle:.0f} min" if still else ""
    return Finding(
        AlertKind.LONG_BATHROOM,
        since,
        f"在卫生间已停留 {stay:.0f} 分钟{quiet}（通常不超过 {limit:.0f} 分钟）",
        f"in the bathroom for {stay:.0f} min{quiet_en} (usually under {limit:.0f} min)",
        {"since": iso(since), "stay_min": round(stay), "limit_min": round(limit), "idle_min": round(idle),
         "still": still},
    )  # fmt: skip


def not_up(
    state: HomeState, ctx: HomeContext, settings: ResidentSettings, baseline: Baseline, now: datetime
) -> Finding | None:
    """Not up by the usual time plus a margin: still in bed, or back in bed after a toilet trip.

    Up is out of bed for good or active outside bedroom and bathroom (``waking``); someone out of bed
    right now is getting up (or has fallen, which the inactivity rule judges), not "not up".
    """
    local = now.astimezone(ctx.tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    margin = settings.limit_min(AlertKind.NOT_UP, 60.0) - 60.0  # sensitivity moves the deadline
    deadline = midnight + timedelta(minutes=baseline.wake_deadline(local.date()) + margin)
    if local < deadline or is_up_today(state, ctx.tz, local) or woke_on(state, ctx.tz, local.date()):
        return None
    if getting_up(state, ctx.tz, local):
        return None
    watched = state.since is not None and state.since <= midnight + timedelta(hours=UP_FROM_HOUR)
    if not watched or not _has_up_rooms(ctx):  # watched all night: no sign of getting up is the signal
        return None
    hhmm = deadline.strftime("%H:%M")
    return Finding(
        AlertKind.NOT_UP,
        deadline,
        f"已过平时起床时间（{hhmm}），仍未见起床活动",
        f"not up by the usual time ({hhmm})",
        {"deadline": deadline.isoformat(), "last_activity_at": iso(state.last_activity_at),
         "last_room": state.last_activity_room},
    )  # fmt: skip


_PRESENCE_KINDS = frozenset({DeviceKind.MOTION, DeviceKind.DOOR, DeviceKind.CHAIR, DeviceKind.BED})


def _has_up_rooms(ctx: HomeContext) -> bool:
    """Whether any sensor could show the resident up: a bed sensor, or presence outside bedroom and bathroom."""
    seen = (d for d in ctx.devices.values() if d.kind in _PRESENCE_KINDS)
    return (
        any(d.kind == DeviceKind.BED or d.room not in (Room.BEDROOM, Room.BATHROOM) for d in seen)
        or not ctx.devices
    )


def no_water(
    state: HomeState, ctx: HomeContext, settings: ResidentSettings, baseline: Baseline, now: datetime
) -> Finding | None:
    """No water used for far longer than usual, or none at all today since getting up (needs a meter).

    Nobody uses water asleep: while the resident is in bed the gap is not judged, and it counts from
    leaving the bed (getting up this morning) when that was later than the last use (the morning has
    its own rule).
    """
    if not ctx.has(DeviceKind.WATER_METER):
        return None
    if state.bed_since is not None or state.last_activity_key == "bed":
        return None
    ref = max((t for t in (state.last_water_at, state.returned_at) if t is not None), default=None)
    if ref is None:  # none seen since the rules began watching: no gap to judge, but a morning without any
        watching = state.since if state.water_total_l is not None else None  # (the meter does report)
        return _no_water_since_up(state, ctx, settings, watching, now) if watching is not None else None
    limit = settings.limit_min(AlertKind.NO_WATER, baseline.water_gap_limit_min)
    woke = state.woke_at if woke_on(state, ctx.tz, now.astimezone(ctx.tz).date()) else None
    gap = minutes(now - max(ref, woke or ref, state.bed_left_at or ref))  # time out of bed since the last use
    if gap < limit:
        return _no_water_since_up(state, ctx, settings, ref, now)
    return Finding(
        AlertKind.NO_WATER,
        ref,
        f"已 {gap / 60:.1f} 小时未用水（通常不超过 {limit / 60:.1f} 小时）",
        f"no water used for {gap / 60:.1f} h (usually under {limit / 60:.1f} h)",
        {"last_water_at": iso(state.last_water_at), "gap_min": round(gap), "limit_min": round(limit)},
    )


def _no_water_since_up(
    state: HomeState, ctx: HomeContext, settings: ResidentSettings, ref: datetime, now: datetime
) -> Finding | None:
    """Up today for a while and not a drop of water since getting up (no flush, no wash, no kettle).

    The morning starts when the resident left the bed for good (``woke_at``), if that was before they
    were first seen outside bedroom and bathroom: washing and dressing come first, and use water; water
    before that (a flush on a toilet trip, back to bed after it) was the night's. Without that time, up
    is the first sight outside bedroom and bathroom, and water up to ``MORNING_WATER_LOOKBACK_MIN``
    before it counts as the morning's (the wash that came first).
    """
    up = state.up_first_at
    local = now.astimezone(ctx.tz)
    if up is None or not is_up_today(state, ctx.tz, local) or up.astimezone(ctx.tz).date() != local.date():
        return None
    woke, lookback = state.woke_at, MORNING_WATER_LOOKBACK_MIN
    if woke is not None and woke < up and woke_on(state, ctx.tz, local.date()):
        up, lookback = woke, 0.0
    if ref >= up - timedelta(minutes=lookback):
        return None  # water used on getting up (a flush, a wash) or since, or back home since
    limit = settings.limit_min(AlertKind.NO_WATER, DEFAULT_MORNING_WATER)
    awake = minutes(now - up)
    if awake < limit:
        return None
    return Finding(
        AlertKind.NO_WATER,
        up,
        f"起床已 {awake:.0f} 分钟，起床后仍未用水",
        f"up for {awake:.0f} min and no water used since getting up",
        {"up_at": iso(up), "last_water_at": iso(state.last_water_at), "awake_min": round(awake),
         "limit_min": round(limit)},
    )  # fmt: skip


def night_exit(
    state: HomeState, settings: ResidentSettings, baseline: Baseline, now: datetime
) -> Finding | None:
    """Front door opened at night and no return (no activity inside) within the usual time."""
    opened = state.night_door_at
    if opened is None:
        return None
    limit = settings.limit_min(AlertKind.NIGHT_EXIT, baseline.night_outing_limit_min)
    gone = minutes(now - opened)
    if gone < limit:
        return None
    return Finding(
        AlertKind.NIGHT_EXIT,
        opened,
        f"夜间开门外出已 {gone:.0f} 分钟未返回",
        f"front door opened at night, not back after {gone:.0f} min",
        {"door_at": iso(opened), "gone_min": round(gone), "limit_min": round(limit)},
    )


def no_activity(
    state: HomeState, settings: ResidentSettings, baseline: Baseline, now: datetime
) -> Finding | None:
    """A low-severity notice: nobody seen at home for far longer than the usual outing (not marked away)."""
    since = state.out_since
    if state.presence != "out" or since is None:
        return None
    limit = settings.limit_min(AlertKind.NO_ACTIVITY, baseline.outing_limit_min)
    gone = minutes(now - since)
    if gone < limit:
        return None
    return Finding(
        AlertKind.NO_ACTIVITY,
        since,
        f"家中已 {gone / 60:.1f} 小时无人活动（未设置外出），请确认老人是否外出",
        f"no activity at home for {gone / 60:.1f} h and not marked away; please check the resident is out",
        {"out_since": iso(since), "gone_min": round(gone), "limit_min": round(limit)},
    )


def activity_decline(settings: ResidentSettings, baseline: Baseline, now: datetime) -> Finding | None:
    """Early warning: each of the last three days well below the resident's usual daily activity."""
    ratio, usual = baseline.recent_activity_ratio, baseline.daily_activity_median
    if ratio is None or usual is None or baseline.days_of_data < MIN_DECLINE_DAYS:
        return None
    sens = settings.limit_min(AlertKind.ACTIVITY_DECLINE, 1.0)  # 1/sensitivity
    threshold = min(0.8, DECLINE_RATIO / sens)
    if ratio >= threshold:
        return None
    return Finding(
        AlertKind.ACTIVITY_DECLINE,
        now - timedelta(days=3),
        f"近三天活动量持续下降，仅为平时的 {ratio:.0%}",
        f"activity over the last three days down to {ratio:.0%} of usual",
        {"ratio": ratio, "usual_daily": usual, "threshold": round(threshold, 3)},
    )
