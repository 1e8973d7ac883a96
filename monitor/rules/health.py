"""Device health rules: devices or gateways silent past their kind's timeout, low battery, a silent home."""

from __future__ import annotations

from datetime import datetime

from devices.types import DeviceKind
from monitor.rules.candidate import Finding, iso
from monitor.rules.context import HomeContext, ResidentSettings
from monitor.rules.kinds import AlertKind, Severity
from monitor.rules.signals import minutes
from monitor.rules.state import HomeState

# A gateway is seen through its bridged devices, whose heartbeats come every 30 minutes: a shorter gateway
# timeout calls a quiet but healthy home's gateway offline between two heartbeats.
DEFAULT_TIMEOUT_MIN: dict[DeviceKind, float] = {
    DeviceKind.GATEWAY: 45.0,
    DeviceKind.SMOKE: 90.0,
    DeviceKind.GAS: 90.0,
    DeviceKind.SOS_BUTTON: 120.0,
    DeviceKind.FALL_DETECTOR: 120.0,
}
OTHER_TIMEOUT_MIN = 150.0
HOME_SILENT_MIN = 60.0


# Kinds that report on a schedule without a heartbeat flag (a Zigbee temperature sensor: every 30 min at most;
# meters are left out: many report only on use).
PERIODIC_KINDS = frozenset({DeviceKind.TEMPERATURE})


def _periodic(ctx: HomeContext, device_id: str) -> bool:
    info = ctx.devices.get(device_id)
    return info is not None and info.kind in PERIODIC_KINDS


def timeout_min(kind: DeviceKind, settings: ResidentSettings) -> float:
    return settings.device_timeout_min.get(kind, DEFAULT_TIMEOUT_MIN.get(kind, OTHER_TIMEOUT_MIN))


def health_findings(
    state: HomeState, ctx: HomeContext, settings: ResidentSettings, now: datetime, *, resident_home: bool
) -> list[Finding]:
    """Device-health conditions holding at ``now``.

    Only devices that have sent a heartbeat, or report on a schedule (temperature), are timed out
    (an event-only sensor is silent by nature).
    """
    found = _battery(state, now)
    tracked = [d for d in state.heartbeat_devices if d in state.last_seen]
    tracked += [d for d in state.last_seen if d not in tracked and _periodic(ctx, d)]
    if not tracked:
        return found
    silent = {d: minutes(now - state.last_seen[d]) for d in tracked}
    last_any = max(state.last_seen.values())
    quiet = minutes(now - last_any)
    if quiet >= HOME_SILENT_MIN:
        found.append(
            Finding(
                AlertKind.HOME_SILENT,
                last_any,
                f"全屋设备已 {quiet:.0f} 分钟无任何数据（可能断电或断网）",
                f"no data from any device in the home for {quiet:.0f} min (power or network?)",
                {"last_seen_at": iso(last_any), "silent_min": round(quiet)},
                Severity.HIGH if resident_home else Severity.MEDIUM,
            )
        )
    gateways = _offline(ctx, settings, silent, want_gateway=True)
    if gateways:
        found.append(_offline_finding(AlertKind.GATEWAY_OFFLINE, gateways, state, "网关", "gateway"))
    devices = [
        d for d in _offline(ctx, settings, silent, want_gateway=False) if _gateway(ctx, d) not in gateways
    ]
    if devices and quiet < HOME_SILENT_MIN:
        found.append(_offline_finding(AlertKind.DEVICE_OFFLINE, devices, state, "设备", "device"))
    return found


def _battery(state: HomeState, now: datetime) -> list[Finding]:
    if not state.battery_low:
        return []
    low = sorted(state.battery_low)
    return [
        Finding(
            AlertKind.BATTERY_LOW,
            now,
            f"{len(low)} 个设备电量低，请更换电池：{', '.join(low)}",
            f"low battery on {len(low)} device(s): {', '.join(low)}",
            {"devices": low},
        )
    ]


def _gateway(ctx: HomeContext, device_id: str) -> str | None:
    info = ctx.devices.get(device_id)
    return info.gateway_id if info is not None else None


def _is_gateway(ctx: HomeContext, device_id: str) -> bool:
    info = ctx.devices.get(device_id)
    if info is not None and info.kind == DeviceKind.GATEWAY:
        return True
    return any(d.gateway_id == device_id for d in ctx.devices.values())


def _offline(
    ctx: HomeContext, settings: ResidentSettings, silent: dict[str, float], *, want_gateway: bool
) -> list[str]:
    out = []
    for dev, mins in sorted(silent.items()):
        gateway = _is_gateway(ctx, dev)
        if gateway != want_gateway:
            continue
        info = ctx.devices.get(dev)
        kind = DeviceKind.GATEWAY if gateway else info.kind if info is not None else DeviceKind.MOTION
        if mins >= timeout_min(kind, settings):
            out.append(dev)
    return out


def _offline_finding(kind: AlertKind, ids: list[str], state: HomeState, zh: str, en: str) -> Finding:
    since = min(state.last_seen[d] for d in ids)
    return Finding(
        kind,
        since,
        f"{len(ids)} 个{zh}离线：{', '.join(ids)}",
        f"{len(ids)} {en}(s) offline: {', '.join(ids)}",
        {"devices": ids, "last_seen": {d: iso(state.last_seen[d]) for d in ids}},
    )
