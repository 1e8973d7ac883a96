"""Fold one reading into a home's state: activity timers, presence, water, device health, hazards, temperature.

Shared by the engine (live) and the baseline learner (history), so both see episodes the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from devices.types import DeviceKind, Reading, Room
from monitor.rules.context import DeviceInfo, HomeContext, Window
from monitor.rules.state import Episodes, HomeState
from monitor.rules.waking import UP_FROM_HOUR, UP_UNTIL_HOUR, confirm_wake, note_up_activity, woke_on

OUT_CONFIRM = timedelta(minutes=10)  # no inside activity this long after the front door: the resident is out
RETURN_WINDOW = timedelta(minutes=10)  # inside activity this soon after a door event while out: back home
RETURN_BURST = (
    3  # or this many inside activations within RETURN_BURST_WINDOW (stray triggers are not a return)
)
RETURN_BURST_WINDOW = timedelta(minutes=5)
MIN_GAP_EPISODE = timedelta(minutes=2)
POSTURE_PULSE = timedelta(seconds=30)
BATTERY_LOW_PCT, BATTERY_OK_PCT = 15.0, 20.0
WATER_NOISE_L = 0.2
HAZARDS = ("smoke", "gas", "water_leak", "tamper")
_NOT_UP_ROOMS = {Room.BEDROOM.value, Room.BATHROOM.value}


def minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def advance(state: HomeState, now: datetime) -> None:
    """Move the state's clock to ``now`` (never backwards) and confirm a pending departure."""
    state.latest_at = now if state.latest_at is None else max(state.latest_at, now)
    state.since = now if state.since is None else min(state.since, now)
    exit_at = state.exit_at
    if state.presence != "home" or exit_at is None or state.latest_at - exit_at < OUT_CONFIRM:
        return
    if state.last_activity_at is not None and state.last_activity_at > exit_at:
        return
    state.presence, state.out_since, state.exit_at = "out", exit_at, None
    state.bathroom_since = state.bed_since = state.chair_since = None
    state.return_hits = []


def apply_reading(
    state: HomeState,
    ctx: HomeContext,
    reading: Reading,
    t: datetime,
    *,
    night: Window,
    episodes: Episodes | None = None,
) -> bool:
    """Fold ``reading`` (effective time ``t``, already capped at now) into ``state``.

    Returns:
        Whether the reading was in order for its device (a late one updates no device state).
    """
    info = ctx.device(reading.device_id, reading.kind)
    confirm_wake(state, ctx.tz, t, episodes=episodes)
    in_order = _touch_device(state, reading, info, t)
    if in_order:
        _apply_hazards(state, reading, t)
        _apply_temperature(state, reading, t)
        update_posture(state, reading, info, t)
    water_room = _apply_water(state, reading, info, t, episodes) if in_order else None
    signal = _activity(reading, info, ctx, water_room)
    if signal is not None:
        if episodes is not None:
            episodes.seen(t)
        room, exit_evidence = signal
        _left_pulsed(state, ctx, room, t, source=info)
        # Without a bed sensor, stillness in the bedroom is sleep (the "bed" limits apply), unless the
        # resident has been up today and it is day: a nap then shows as a long still spell the baseline
        # learns for the bedroom at that hour, and someone down by the bed is not taken for asleep.
        in_bed = (
            room == Room.BEDROOM.value and not ctx.has(DeviceKind.BED) and not up_by_day(state, ctx.tz, t)
        )
        _apply_activity(state, ctx.tz, t, room, exit_evidence, night=night, episodes=episodes, in_bed=in_bed)
    return in_order


def up_by_day(state: HomeState, tz: ZoneInfo, t: datetime) -> bool:
    """Daytime (not a night hour) and the resident has been up today (the wake state)."""
    local = t.astimezone(tz)
    if local.hour >= 21 or local.hour < 7:  # the baseline's night hours
        return False
    return is_up_today(state, tz, local) or woke_on(state, tz, local.date())


def _left_pulsed(state: HomeState, ctx: HomeContext, room: str, t: datetime, *, source: DeviceInfo) -> None:
    """The resident has left a pulsing bed or chair (see ``update_posture``): seen in another room, or, for
    a bed, moving about the bedroom by day once up today (not the bed's own sensor)."""
    for dev in list(state.posture_pulse):
        info = ctx.devices.get(dev)
        if info is None:
            continue
        up_and_about = (
            info.kind == DeviceKind.BED and source.kind != DeviceKind.BED and up_by_day(state, ctx.tz, t)
        )
        if info.room.value == room and not up_and_about:
            continue
        state.posture_pulse.remove(dev)
        if info.kind == DeviceKind.BED and state.bed_since is not None:
            state.bed_since, state.bed_left_at = None, t
        elif info.kind == DeviceKind.CHAIR:
            state.chair_since = None


def _touch_device(state: HomeState, reading: Reading, info: DeviceInfo, t: datetime) -> bool:
    dev, values = reading.device_id, reading.values
    previous = state.last_seen.get(dev)
    in_order = previous is None or t >= previous
    state.last_seen[dev] = t if previous is None else max(previous, t)
    for gw in (info.gateway_id,) if info.gateway_id else ():
        seen = state.last_seen.get(gw)
        state.last_seen[gw] = t if seen is None else max(seen, t)
    if values.get("heartbeat") is True:
        for d in (dev, info.gateway_id):
            if d and d not in state.heartbeat_devices:
                state.heartbeat_devices.append(d)
    if in_order:
        battery, flag = values.get("battery"), values.get("battery_low")
        low = flag is True or (isinstance(battery, int | float) and battery < BATTERY_LOW_PCT)
        ok = flag is False or (isinstance(battery, int | float) and battery >= BATTERY_OK_PCT)
        if low and dev not in state.battery_low:
            state.battery_low.append(dev)
        elif ok and not low and dev in state.battery_low:
            state.battery_low.remove(dev)
    return in_order


def _apply_hazards(state: HomeState, reading: Reading, t: datetime) -> None:
    for hazard in HAZARDS:
        value = reading.values.get(hazard)
        if not isinstance(value, bool):
            continue
        devices = state.hazards.setdefault(hazard, [])
        state.hazard_at[f"{hazard}:{reading.device_id}"] = t
        if value and reading.device_id not in devices:
            devices.append(reading.device_id)
        elif not value and reading.device_id in devices:
            devices.remove(reading.device_id)


def _apply_temperature(state: HomeState, reading: Reading, t: datetime) -> None:
    value = reading.values.get("temperature")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    state.temp_value[reading.device_id] = float(value)
    state.temp_at[reading.device_id] = t


def _apply_water(
    state: HomeState, reading: Reading, info: DeviceInfo, t: datetime, episodes: Episodes | None
) -> str | None:
    total = reading.values.get("water_total_l")
    if isinstance(total, bool) or not isinstance(total, int | float):
        return None
    previous, state.water_total_l = state.water_total_l, float(total)
    if previous == total and reading.device_id not in state.heartbeat_devices:
        state.heartbeat_devices.append(reading.device_id)  # reports without news: it reports on a schedule
    if previous is None or not previous + WATER_NOISE_L < total:
        return None
    ref = max((x for x in (state.last_water_at, state.returned_at) if x is not None), default=None)
    if episodes is not None and ref is not None and state.presence == "home" and t > ref:
        episodes.water_gaps.append(minutes(t - ref))
    state.last_water_at = t if state.last_water_at is None else max(state.last_water_at, t)
    if state.hazards.get("water_leak"):
        return None  # water running out of a leak is no sign of the resident
    # A meter reports where it is fitted (often the kitchen), not where the tap or the flush is, and
    # every few minutes: the resident is where they were last seen (a flush at night is not "up").
    return state.last_activity_room or (info.room.value if info.room != Room.OTHER else Room.OTHER.value)


def _activity(
    reading: Reading, info: DeviceInfo, ctx: HomeContext, water_room: str | None
) -> tuple[str, bool] | None:
    """The room a reading shows the resident in, and whether it is front-door (exit) evidence."""
    v, kind, room = reading.values, info.kind, info.room.value
    entrance = info.room == Room.ENTRANCE
    if kind == DeviceKind.MOTION and v.get("occupancy") is True:
        return room, entrance and not ctx.has(DeviceKind.DOOR, Room.ENTRANCE)
    if kind == DeviceKind.DOOR and isinstance(v.get("contact"), bool):
        return room, entrance
    if kind in (DeviceKind.BED, DeviceKind.CHAIR) and isinstance(v.get("occupancy"), bool):
        return room, False
    if isinstance(v.get("action"), str) and v.get("action"):
        return room, False
    if water_room is not None:
        return water_room, False
    return None


def _apply_activity(
    state: HomeState,
    tz: ZoneInfo,
    t: datetime,
    room: str,
    exit_evidence: bool,
    *,
    night: Window,
    episodes: Episodes | None,
    in_bed: bool = False,
) -> None:
    last = state.room_last.get(room)
    state.room_last[room] = t if last is None else max(last, t)
    if state.last_activity_at is not None and t < state.last_activity_at:
        return  # late: timers never move backwards
    returned = False
    if state.presence == "out":
        if not _returning(state, tz, t, exit_evidence, episodes):
            return
        returned = True
    prev_at, prev_key = state.last_activity_at, state.last_activity_key
    if (
        episodes is not None
        and prev_at is not None
        and prev_key
        and not returned
        and t - prev_at >= MIN_GAP_EPISODE
    ):
        episodes.gaps.append((prev_key, prev_at.astimezone(tz).hour, minutes(t - prev_at)))
    if episodes is not None and prev_at is not None and prev_key and not returned:
        local = prev_at.astimezone(tz)
        episodes.visit(prev_key, local.hour, local.date().isoformat())
    _track_rooms(state, tz, t, room, episodes)
    if exit_evidence:
        state.exit_at = t
        if night.contains(t.astimezone(tz)) and state.night_door_at is None:
            state.night_door_at = t
    else:
        state.exit_at = state.night_door_at = None
    state.last_activity_at, state.last_activity_room = t, room
    state.last_activity_key = "bed" if in_bed else _key(state, room)


def _returning(
    state: HomeState, tz: ZoneInfo, t: datetime, exit_evidence: bool, episodes: Episodes | None
) -> bool:
    if exit_evidence:
        state.door_while_out_at = t
        return False
    hits = [h for h in state.return_hits if t - h <= RETURN_BURST_WINDOW] + [t]
    door = state.door_while_out_at is not None and t - state.door_while_out_at <= RETURN_WINDOW
    if len(hits) < RETURN_BURST and not door:
        state.return_hits = hits
        return False
    if episodes is not None and state.out_since is not None:
        episodes.outings.append((minutes(t - state.out_since), state.out_since.astimezone(tz).hour))
    state.presence, state.returned_at, state.out_since = "home", t, None
    state.up_at = t  # back from outside: up, whatever room comes next
    state.return_hits, state.door_while_out_at, state.night_door_at = [], None, None
    return True


def _track_rooms(state: HomeState, tz: ZoneInfo, t: datetime, room: str, episodes: Episodes | None) -> None:
    if room == Room.BATHROOM.value:
        if state.bathroom_since is None:
            state.bathroom_since = t
    elif state.bathroom_since is not None:
        if episodes is not None:
            episodes.bathroom_stays.append(minutes(t - state.bathroom_since))
        state.bathroom_since = None
    local = t.astimezone(tz)
    if room in _NOT_UP_ROOMS or not UP_FROM_HOUR <= local.hour < UP_UNTIL_HOUR:
        return
    back_today = state.returned_at is not None and state.returned_at.astimezone(tz).date() == local.date()
    if not is_up_today(state, tz, local):
        state.up_first_at = t
    note_up_activity(state, tz, t, episodes=episodes, record=not back_today)
    state.up_at = t


def is_up_today(state: HomeState, tz: ZoneInfo, local_now: datetime) -> bool:
    """Whether the resident has been up (outside bedroom and bathroom) since 04:00 local today."""
    if state.up_at is None:
        return False
    up = state.up_at.astimezone(tz)
    return up.date() == local_now.date() and up.hour >= UP_FROM_HOUR


def update_posture(state: HomeState, reading: Reading, info: DeviceInfo, t: datetime) -> None:
    """Bed and chair pressure: track since when someone has been lying or sitting."""
    occupied = reading.values.get("occupancy")
    if not isinstance(occupied, bool) or info.kind not in (DeviceKind.BED, DeviceKind.CHAIR):
        return
    dev = reading.device_id
    if occupied:
        state.posture_on_at[dev] = t
    elif (on := state.posture_on_at.get(dev)) is not None and t - on <= POSTURE_PULSE:
        # "Empty" within seconds of "occupied": a motion sensor aimed at the bed or chair (CASAS "Bed",
        # "Chair"), not a pressure mat. Its silence says nothing: the person is taken to be there until
        # seen in another room (``_left_pulsed``).
        if dev not in state.posture_pulse:
            state.posture_pulse.append(dev)
        return
    elif dev in state.posture_pulse:
        state.posture_pulse.remove(dev)
    since = t if occupied else None
    if info.kind == DeviceKind.BED:
        if not occupied and (state.bed_since is not None or state.bed_left_at is None):
            state.bed_left_at = t  # vacated (a repeated "empty" report keeps the first time)
        elif occupied:
            state.bed_left_at = None
        state.bed_since = state.bed_since if occupied and state.bed_since else since
    else:
        state.chair_since = state.chair_since if occupied and state.chair_since else since


def _key(state: HomeState, room: str) -> str:
    if state.bed_since is not None and room == Room.BEDROOM.value:
        return "bed"
    if state.chair_since is not None and room == Room.LIVING_ROOM.value:
        return "chair"
    return room
