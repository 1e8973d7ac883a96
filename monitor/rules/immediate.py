"""Immediate rules: SOS, fall detector, smoke, gas, water leak, tamper, and indoor cold or heat."""

from __future__ import annotations

from datetime import datetime

from devices.types import Reading
from monitor.rules.candidate import Finding, iso, room_en, room_zh
from monitor.rules.context import DeviceInfo, HomeContext, ResidentSettings
from monitor.rules.kinds import AlertKind, Severity
from monitor.rules.signals import minutes
from monitor.rules.state import HomeState

HYSTERESIS_C = 0.5
EXTREME_COLD_C, EXTREME_HEAT_C = 10.0, 35.0
_HAZARD_TEXT = {
    AlertKind.SMOKE: ("检测到烟雾", "smoke detected"),
    AlertKind.GAS: ("检测到燃气泄漏", "gas detected"),
    AlertKind.WATER_LEAK: ("检测到漏水", "water leak detected"),
    AlertKind.TAMPER: ("设备被拆动", "device tampered with"),
}


def event_findings(reading: Reading, info: DeviceInfo, t: datetime) -> list[Finding]:
    """Point events carried by one reading: an SOS press or a detected fall."""
    where = {"device_id": reading.device_id, "room": info.room.value, "reading_ts": iso(reading.ts)}
    zh, en = room_zh(info.room.value), room_en(info.room.value)
    found: list[Finding] = []
    if reading.values.get("action") == "sos":
        found.append(
            Finding(AlertKind.SOS, t, f"{zh}的紧急呼叫按钮被按下", f"SOS button pressed ({en})", where)
        )
    if reading.values.get("fall") is True:
        found.append(Finding(AlertKind.FALL, t, f"{zh}的跌倒检测器报告跌倒", f"fall detected ({en})", where))
    return found


def hazard_findings(state: HomeState, ctx: HomeContext) -> list[Finding]:
    """Smoke, gas, leak and tamper: active while any device still reports it."""
    found: list[Finding] = []
    for kind, (zh, en) in _HAZARD_TEXT.items():
        devices = state.hazards.get(kind.value) or []
        if not devices:
            continue
        since = min(state.hazard_at[f"{kind.value}:{d}"] for d in devices)
        rooms = sorted({ctx.room_of(d) for d in devices})
        where_zh = "、".join(room_zh(r) for r in rooms)
        evidence = {"devices": sorted(devices), "rooms": rooms}
        found.append(
            Finding(kind, since, f"{where_zh}{zh}", f"{en} ({', '.join(map(room_en, rooms))})", evidence)
        )
    return found


def temperature_findings(state: HomeState, settings: ResidentSettings, now: datetime) -> list[Finding]:
    """Indoor cold or heat: a sensor outside the safe range for longer than the configured duration."""
    rng = settings.temperature
    found: dict[AlertKind, Finding] = {}
    for dev, value in sorted(state.temp_value.items()):
        _track_out_of_range(state, dev, value, rng.min_c, rng.max_c)
        since = state.temp_out_since.get(dev)
        if since is None or minutes(now - since) < rng.duration_min:
            continue
        cold = state.temp_out_dir[dev] == "cold"
        kind = AlertKind.COLD if cold else AlertKind.HEAT
        extreme = value <= EXTREME_COLD_C if cold else value >= EXTREME_HEAT_C
        bound = rng.min_c if cold else rng.max_c
        mins = round(minutes(now - since))
        zh = f"室内温度 {value:.1f}°C，{'低于' if cold else '高于'}安全值 {bound:.0f}°C 已 {mins} 分钟"
        en = f"indoor temperature {value:.1f} C, {'below' if cold else 'above'} safe {bound:.0f} C for {mins} min"
        ev = {"device_id": dev, "temperature_c": value, "limit_c": bound, "since": iso(since)}
        if kind not in found or since < found[kind].started_at:
            found[kind] = Finding(kind, since, zh, en, ev, Severity.CRITICAL if extreme else None)
    return list(found.values())


def _track_out_of_range(state: HomeState, dev: str, value: float, low: float, high: float) -> None:
    direction = "cold" if value < low else "hot" if value > high else None
    if direction is not None:
        if state.temp_out_dir.get(dev) != direction:
            state.temp_out_dir[dev] = direction
            state.temp_out_since[dev] = state.temp_at[dev]
    elif low + HYSTERESIS_C <= value <= high - HYSTERESIS_C:
        state.temp_out_dir.pop(dev, None)
        state.temp_out_since.pop(dev, None)
