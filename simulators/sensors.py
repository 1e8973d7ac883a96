"""Sensor behaviour: the resident's timeline becomes motion, door, bed and chair events as real sensors send them."""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devices.types import DeviceKind, Reading, Room
from simulators.home import Home, Transport
from simulators.resident import (
    BATH,
    COOK,
    DISHES,
    DRESS,
    LONG_STAY,
    MEAL,
    SIT,
    TEA,
    TOILET,
    TV,
    VISIT,
    WASH,
    Activity,
)

# A raw event: (epoch seconds, device index, insertion number, device id, values).
Raw = tuple[float, int, int, str, dict[str, Any]]

# Mean seconds between movements a PIR can see, per activity (absent = the resident is still or away).
MOVEMENT_S: dict[str, float] = {
    TOILET: 20,
    WASH: 10,
    BATH: 90,
    DRESS: 10,
    COOK: 8,
    MEAL: 45,
    TEA: 10,
    DISHES: 8,
    TV: 300,
    SIT: 180,
    VISIT: 25,
    LONG_STAY: 420,
}
ON_BED = frozenset({"sleep", "nap"})
ON_CHAIR = frozenset({TV, SIT, VISIT})
PIR_HOLD_S = 30.0  # occupancy clears this long after the blind time ends without a new detection
GET_UP_BEFORE_OUT_S = 45.0  # leaving the bed or chair comes before the walk out (seconds before the door)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A device or gateway going offline (connection lost, broker publishes its will) or back online."""

    device_id: str
    ts: datetime
    online: bool


class SensorState:
    """Everything a home's sensors remember from one simulated day to the next."""

    def __init__(self, home: Home, *, seed: int, t0: float) -> None:
        """Draw per-device constants (PIR blind times, batteries, heartbeat phases) from the seed.

        Args:
            home: the home.
            seed: run seed.
            t0: epoch seconds the battery levels are drawn for (the simulation's first midnight).
        """
        rng = random.Random(f"{seed}|{home.home_id}|sensors")
        self.home = home
        self.t0 = t0
        self.battery_powered = frozenset(d.device_id for d in home.devices if d.battery_powered)
        self.index = {d.device_id: i for i, d in enumerate(home.devices)}
        self.seq = dict.fromkeys(self.index, 0)
        self.motion = {d.room: d.device_id for d in home.devices if d.kind is DeviceKind.MOTION}
        self.blind = {dev: rng.uniform(60, 120) for dev in self.motion.values()}
        self.pir_last = dict.fromkeys(self.blind, -math.inf)
        self.pir_pending = dict.fromkeys(self.blind, False)
        self.battery = {d.device_id: (rng.uniform(35, 100), rng.uniform(0.05, 0.25)) for d in home.devices}
        self.phase = {d.device_id: rng.uniform(0, 1800) for d in home.devices}
        self.water_total = round(rng.uniform(50, 3000), 1)
        self.energy_wh = round(rng.uniform(1e5, 3e6), 1)
        self.setpoint = rng.uniform(20.0, 23.0)
        self.base_w = rng.uniform(50, 110)
        self.where: Room | None = Room.BEDROOM
        self.bed_on = True
        self.chair_on = False
        self.last_temp: tuple[float, float] | None = None  # (time, value) of the last report
        self.midnight = t0  # local midnight of the day being generated
        self.water_q: list[tuple[float, float]] = []  # (time, litres) uses not yet reported
        self.power_q: list[tuple[float, float]] = []  # (time, watts delta) switches not yet applied
        self.load_w = self.base_w
        self.load_since = t0
        self.battery_incidents: list[Any] = []  # battery_depleted incidents (their replacement lasts)
        self.out: list[Raw] = []
        self.last_t = -math.inf  # time of the last reading handed out (the stream never goes back)
        self.door = home.find(DeviceKind.DOOR)
        self.bed = home.find(DeviceKind.BED)
        self.chair = home.find(DeviceKind.CHAIR)

    def emit(self, t: float, device_id: str, values: dict[str, Any]) -> None:
        """Queue one raw event."""
        self.out.append((t, self.index[device_id], len(self.out), device_id, values))


def _detect(state: SensorState, room: Room, t: float) -> None:
    """A movement PIR can see at ``t``: report occupancy unless the sensor is in its blind time."""
    dev = state.motion.get(room)
    if dev is None:
        return
    last, blind = state.pir_last[dev], state.blind[dev]
    if t < last + blind:
        return
    if state.pir_pending[dev] and last + blind + PIR_HOLD_S <= t:
        state.emit(last + blind + PIR_HOLD_S, dev, {"occupancy": False})
    state.emit(t, dev, {"occupancy": True})
    state.pir_last[dev] = t
    state.pir_pending[dev] = True


def flush_motion(state: SensorState, until: float) -> None:
    """Emit the occupancy-cleared events that fall before ``until``."""
    for dev, pending in state.pir_pending.items():
        clear = state.pir_last[dev] + state.blind[dev] + PIR_HOLD_S
        if pending and clear < until:
            state.emit(clear, dev, {"occupancy": False})
            state.pir_pending[dev] = False


def _door(state: SensorState, t: float, rng: random.Random) -> None:
    if state.door is not None:
        state.emit(t, state.door.device_id, {"contact": False})
        state.emit(t + rng.uniform(3, 12), state.door.device_id, {"contact": True})


def _transition(state: SensorState, act: Activity, rng: random.Random) -> None:
    """Moving from the previous room to ``act.room``: leaving/entering motion, the front door."""
    prev, t = state.where, act.start
    if prev is not None and act.room is None:  # going out
        _detect(state, prev, t - 40)
        _detect(state, Room.ENTRANCE, t - rng.uniform(10, 25))
        _door(state, t, rng)
    elif prev is None and act.room is not None:  # coming home
        _door(state, t, rng)
        _detect(state, Room.ENTRANCE, t + rng.uniform(2, 6))
        _detect(state, act.room, t + rng.uniform(15, 30))
    elif prev is not None and act.room is not None:
        _detect(state, prev, t + rng.uniform(0, 3))
        _detect(state, act.room, t + rng.uniform(5, 12))
    state.where = act.room


def _furniture(state: SensorState, act: Activity) -> None:
    # Someone going out gets up from the bed or chair before the walk to the front door (``_transition``
    # shows them in the room 40 s before the door opens), not as the door opens.
    leave = act.start - (GET_UP_BEFORE_OUT_S if act.room is None else 0.0)
    on_bed = act.what in ON_BED and act.room is Room.BEDROOM
    if state.bed is not None and on_bed != state.bed_on:
        state.emit(act.start + 20 if on_bed else leave, state.bed.device_id, {"occupancy": on_bed})
    state.bed_on = on_bed
    on_chair = act.what in ON_CHAIR and act.room is Room.LIVING_ROOM
    if state.chair is not None and on_chair != state.chair_on:
        state.emit(act.start + 15 if on_chair else leave, state.chair.device_id, {"occupancy": on_chair})
    state.chair_on = on_chair


def _movements(state: SensorState, act: Activity, rng: random.Random) -> None:
    mean = MOVEMENT_S.get(act.what)
    dev = state.motion.get(act.room) if act.room is not None else None
    if mean is None or dev is None or act.room is None:
        return
    blind = state.blind[dev]
    t = act.start + rng.expovariate(1 / mean)
    while t < act.end:
        _detect(state, act.room, t)
        t = max(t, state.pir_last[dev] + blind) + rng.expovariate(1 / mean)


def activity_events(state: SensorState, acts: list[Activity], rng: random.Random, *, until: float) -> None:
    """Queue the events these activities cause (motion, door, bed, chair); clear PIRs due before ``until``."""
    for act in acts:
        if act.room is not state.where:
            _transition(state, act, rng)
        _furniture(state, act)
        if act.what == VISIT:
            _detect(state, Room.ENTRANCE, act.start - 30)
            _door(state, act.start - 20, rng)
            _detect(state, Room.ENTRANCE, act.end - 60)
            _door(state, act.end - 45, rng)
        _movements(state, act, rng)
    flush_motion(state, until)


def silent_windows(home: Home, incidents: list[Any]) -> dict[str, list[tuple[float, float]]]:
    """Per device id, the windows in which it sends nothing (dead, flat battery, gateway down)."""
    windows: dict[str, list[tuple[float, float]]] = {}
    for inc in incidents:
        if inc.kind in ("device_silent", "battery_depleted") and inc.device_id:
            windows.setdefault(inc.device_id, []).append((inc.start, inc.end))
        elif inc.kind == "gateway_offline":
            for dev in home.devices:
                if dev.transport is Transport.Z2M:
                    windows.setdefault(dev.device_id, []).append((inc.start, inc.end))
    return windows


# A numbered reading not yet built: (epoch seconds, device id, seq, kind, values).
Row = tuple[float, str, int, DeviceKind, dict[str, Any]]


def finalize(state: SensorState, incidents: list[Any], *, since: float, until: float) -> list[Row]:
    """Number the queued events before ``until`` in time order, dropping silent devices' and pre-``since`` ones.

    Events at or after ``until`` stay queued for a later call.
    """
    state.out.sort()
    cut = bisect.bisect_left(state.out, (until,))
    raws, state.out = state.out[:cut], state.out[cut:]
    windows = silent_windows(state.home, incidents)
    devices, seq, last_t = state.home.devices, state.seq, state.last_t
    rows: list[Row] = []
    for t, idx, _, dev, values in raws:
        if t < since or (dev in windows and any(s <= t < e for s, e in windows[dev])):
            continue
        seq[dev] += 1
        last_t = max(round(t, 3), last_t)
        rows.append((last_t, dev, seq[dev], devices[idx].kind, values))
    state.last_t = last_t
    return rows


def build_reading(row: Row) -> Reading:
    """Make the Reading for a numbered row (timestamps are UTC)."""
    t, dev, seq, kind, values = row
    return Reading(dev, datetime.fromtimestamp(t, UTC), seq, kind, values)
