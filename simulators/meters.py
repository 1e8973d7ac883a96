"""Periodic and environmental readings: water/power counters, temperature, heartbeats, batteries, alarms."""

from __future__ import annotations

import heapq
import math
import random
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from devices.types import DeviceKind
from simulators.effects import FALL_ROOMS, TARGET_TEMPERATURE, Incident
from simulators.incidents import IncidentKind
from simulators.resident import BATH, COOK, DISHES, LYING, SLEEP, TEA, TOILET, TV, WASH, Activity
from simulators.sensors import SensorState

K = IncidentKind
H = 3600.0
METER_PERIOD = 900.0
HEARTBEAT_PERIOD = 1800.0
LOW_BATTERY = 20
# Litres used per activity (drawn around these), counted when it ends.
WATER_L = {TOILET: 6.5, WASH: 6.0, BATH: 80.0, COOK: 2.5, TEA: 0.5, DISHES: 9.0}
# Extra watts while an activity lasts (on top of the home's base load).
POWER_W = {COOK: 1500.0, TV: 95.0, BATH: 1800.0, TEA: 1800.0}
LEAK_L_PER_MIN = 1.5
ALARMS = {K.SMOKE: "smoke", K.GAS: "gas", K.WATER_LEAK: "water_leak"}


def _overlapping(incidents: list[Incident], kinds: set[IncidentKind], lo: float, hi: float) -> list[Incident]:
    return [i for i in incidents if i.kind in kinds and i.start < hi and i.end > lo]


def _ticks(anchor: float, period: float, lo: float, hi: float) -> list[float]:
    """Times ``anchor + k * period`` in [lo, hi)."""
    first = math.ceil((lo - anchor) / period)
    return [
        t for k in range(first, first + int((hi - lo) // period) + 2) if lo <= (t := anchor + k * period) < hi
    ]


def queue_meters(
    state: SensorState, acts: list[Activity], incidents: list[Incident], rng: random.Random
) -> None:
    """Queue the water uses and power switches of these activities (they are emitted when due)."""
    dry = [i for i in incidents if i.kind is K.NO_WATER_USE]
    for act in acts:
        if act.what in WATER_L and not any(i.active(act.end - 10) for i in dry):
            heapq.heappush(state.water_q, (act.end - 10, WATER_L[act.what] * rng.uniform(0.7, 1.3)))
        watts = POWER_W.get(act.what, 0.0) + (40.0 if _lights(act, state.midnight) else 0.0)
        if watts:
            off = min(act.end, act.start + (1200 if act.what == BATH else 1e9))
            heapq.heappush(state.power_q, (act.start, watts))
            heapq.heappush(state.power_q, (off, -watts))


def _due(queue: list[tuple[float, float]], hi: float) -> list[tuple[float, float]]:
    out = []
    while queue and queue[0][0] < hi:
        out.append(heapq.heappop(queue))
    return out


def water(state: SensorState, lo: float, hi: float, incidents: list[Incident]) -> None:
    """Cumulative water meter: a report after each use, every 5 min while leaking, and every 15 min."""
    meter = state.home.find(DeviceKind.WATER_METER)
    if meter is None:
        return
    uses = _due(state.water_q, hi)
    for leak in _overlapping(incidents, {K.WATER_LEAK}, lo, hi):
        uses += [
            (t, LEAK_L_PER_MIN * 5) for t in _ticks(leak.start, 300, max(lo, leak.start), min(hi, leak.end))
        ]
    ticks = _ticks(state.t0 + state.phase[meter.device_id] / 2, METER_PERIOD, lo, hi)
    for t, litres in sorted(uses + [(t, 0.0) for t in ticks]):
        state.water_total = round(state.water_total + litres, 1)
        state.emit(t, meter.device_id, {"water_total_l": state.water_total})


def _lights(act: Activity, midnight: float) -> bool:
    hour = (act.start - midnight) / H
    return act.room is not None and act.what not in (SLEEP, LYING, "nap") and (hour >= 18 or hour < 7)


def power(state: SensorState, lo: float, hi: float) -> None:
    """Cumulative energy meter with instantaneous power: every 15 min and when a big load switches."""
    meter = state.home.find(DeviceKind.POWER_METER)
    if meter is None:
        return
    ticks = _ticks(state.t0 + state.phase[meter.device_id] / 2, METER_PERIOD, lo, hi)
    for t, delta in sorted(_due(state.power_q, hi) + [(t, 0.0) for t in ticks]):
        state.energy_wh += state.load_w * (t - state.load_since) / H
        state.load_w, state.load_since = state.load_w + delta, t
        if delta == 0.0 or abs(delta) >= 90:
            values = {"energy_total_wh": round(state.energy_wh, 1), "power_w": round(state.load_w, 1)}
            state.emit(t, meter.device_id, values)


def indoor_temperature(state: SensorState, t: float, midnight: float, incidents: list[Incident]) -> float:
    """Indoor temperature at ``t``: season and time of day, heating/cooling, and cold/heat incidents."""
    hour = (t - midnight) / H
    doy = _day_of_year(midnight)
    outdoor = 15 - 11 * math.cos(2 * math.pi * (doy - 20) / 365) + 4 * math.sin(2 * math.pi * (hour - 9) / 24)
    temp = state.setpoint + 0.3 * (outdoor - 15) + 0.8 * math.sin(2 * math.pi * (hour - 10) / 24)
    temp = max(temp, 19.0 + 0.3 * math.sin(hour)) if temp < 19.0 else min(temp, 27.0)
    for inc in incidents:
        target = TARGET_TEMPERATURE.get(inc.kind)
        if target is None or t < inc.start:
            continue
        reached = 1 - math.exp(-(min(t, inc.end) - inc.start) / (1.5 * H))
        fade = math.exp(-(t - inc.end) / H) if t >= inc.end else 1.0
        temp += (target - temp) * reached * fade
    return temp


@lru_cache(maxsize=64)
def _day_of_year(midnight: float) -> int:
    return datetime.fromtimestamp(midnight, UTC).timetuple().tm_yday


def temperature(state: SensorState, lo: float, hi: float, incidents: list[Incident]) -> None:
    """Sample every 5 min; report on a 0.3 degree change or after 30 min, with the battery level."""
    sensor = state.home.find(DeviceKind.TEMPERATURE)
    if sensor is None:
        return
    relevant = _overlapping(incidents, set(TARGET_TEMPERATURE), lo - 12 * H, hi)
    for t in _ticks(state.t0 + state.phase[sensor.device_id] % 300, 300, lo, hi):
        value = round(indoor_temperature(state, t, state.midnight, relevant), 1)
        last = state.last_temp
        if last is None or abs(value - last[1]) >= 0.3 or t - last[0] >= HEARTBEAT_PERIOD - 1:
            state.emit(
                t,
                sensor.device_id,
                {"temperature": value, **battery_values(state, sensor.device_id, t)},
            )
            state.last_temp = (t, value)


def battery_level(state: SensorState, device_id: str, t: float) -> int:
    """Battery percent at ``t``: a slow drain, run flat before a battery_depleted incident, new after it.

    Uses every battery incident the home has had (``state.battery_incidents``), so a replaced battery
    stays new after the incident has left the engine's window of recent incidents.
    """
    level0, per_day = state.battery[device_id]
    level = level0 - per_day * (t - state.t0) / 86400
    for inc in sorted(state.battery_incidents, key=lambda i: i.start):
        if inc.kind is not K.BATTERY_DEPLETED or inc.device_id != device_id:
            continue
        ramp_from = inc.start - inc.lead
        if t >= inc.end:
            level = 100 - per_day * (t - inc.end) / 86400
        elif ramp_from <= t < inc.start:
            level = level * (inc.start - t) / max(inc.start - ramp_from, 1.0)
    return max(0, min(100, math.floor(level)))


def battery_values(state: SensorState, device_id: str, t: float) -> dict[str, Any]:
    """``battery`` and ``battery_low`` for a battery device, nothing for a mains one."""
    if device_id not in state.battery_powered:
        return {}
    level = battery_level(state, device_id, t)
    return {"battery": level, "battery_low": level < LOW_BATTERY}


def heartbeats(state: SensorState, lo: float, hi: float) -> None:
    """Every 30 min per device (not meters or the temperature sensor, which report anyway), in [lo, hi)."""
    skip = {DeviceKind.WATER_METER, DeviceKind.POWER_METER, DeviceKind.TEMPERATURE, DeviceKind.GATEWAY}
    for dev in state.home.devices:
        if dev.kind in skip:
            continue
        for t in _ticks(state.t0 + state.phase[dev.device_id], HEARTBEAT_PERIOD, lo, hi):
            state.emit(t, dev.device_id, {"heartbeat": True, **battery_values(state, dev.device_id, t)})


def alarms(state: SensorState, lo: float, hi: float, incidents: list[Incident]) -> None:
    """Smoke/gas/leak alarms (repeated every 5 min), SOS presses and fall-detector events."""
    for inc in _overlapping(incidents, set(ALARMS) | {K.SOS} | set(FALL_ROOMS), lo - 1, hi):
        if inc.kind in ALARMS and inc.device_id:
            metric, t = ALARMS[inc.kind], inc.start
            while t < min(inc.end, hi):
                if t >= lo:
                    state.emit(t, inc.device_id, {metric: True})
                t += 300
            if lo <= inc.end < hi:
                state.emit(inc.end, inc.device_id, {metric: False})
        elif inc.kind is K.SOS and inc.device_id and lo <= inc.start < hi:
            state.emit(inc.start, inc.device_id, {"action": "sos"})
        elif inc.room is not None and lo <= inc.start < hi:
            detector = state.home.find(DeviceKind.FALL_DETECTOR, inc.room)
            if detector is not None:
                state.emit(inc.start + 8, detector.device_id, {"fall": True})
