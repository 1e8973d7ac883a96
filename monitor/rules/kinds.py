"""Alert kinds and severities the rule engine can raise, and which of them modes may suppress."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class AlertKind(StrEnum):
    # Immediate: a device says so.
    SOS = "sos"
    FALL = "fall"
    SMOKE = "smoke"
    GAS = "gas"
    WATER_LEAK = "water_leak"
    TAMPER = "tamper"
    COLD = "indoor_cold"
    HEAT = "indoor_heat"
    # Routine: the resident's own habits say so.
    INACTIVITY = "inactivity"
    NOT_UP = "not_up"
    NO_WATER = "no_water"
    NIGHT_EXIT = "night_exit"
    LONG_BATHROOM = "long_bathroom"
    NO_ACTIVITY = "no_activity"
    ACTIVITY_DECLINE = "activity_decline"
    # Device health.
    DEVICE_OFFLINE = "device_offline"
    GATEWAY_OFFLINE = "gateway_offline"
    BATTERY_LOW = "battery_low"
    HOME_SILENT = "home_silent"


# Point events: raised on every occurrence, never "cleared" by a sensor (people resolve them).
EVENT_KINDS = frozenset({AlertKind.SOS, AlertKind.FALL})

ROUTINE_KINDS = frozenset(
    {
        AlertKind.INACTIVITY,
        AlertKind.NOT_UP,
        AlertKind.NO_WATER,
        AlertKind.NIGHT_EXIT,
        AlertKind.LONG_BATHROOM,
        AlertKind.NO_ACTIVITY,
        AlertKind.ACTIVITY_DECLINE,
    }
)

HEALTH_KINDS = frozenset(
    {AlertKind.DEVICE_OFFLINE, AlertKind.GATEWAY_OFFLINE, AlertKind.BATTERY_LOW, AlertKind.HOME_SILENT}
)

# About a person: a home with no resident raises none of these.
RESIDENT_KINDS = ROUTINE_KINDS | EVENT_KINDS

# Never suppressed by away/hospital mode, and may not be disabled by a rule override.
LIFE_SAFETY_KINDS = frozenset(
    {AlertKind.SOS, AlertKind.FALL, AlertKind.SMOKE, AlertKind.GAS, AlertKind.WATER_LEAK}
)

DEFAULT_SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.SOS: Severity.CRITICAL,
    AlertKind.FALL: Severity.CRITICAL,
    AlertKind.SMOKE: Severity.CRITICAL,
    AlertKind.GAS: Severity.CRITICAL,
    AlertKind.WATER_LEAK: Severity.HIGH,
    AlertKind.TAMPER: Severity.MEDIUM,
    AlertKind.COLD: Severity.HIGH,
    AlertKind.HEAT: Severity.HIGH,
    AlertKind.INACTIVITY: Severity.HIGH,
    AlertKind.NOT_UP: Severity.HIGH,
    AlertKind.NO_WATER: Severity.MEDIUM,
    AlertKind.NIGHT_EXIT: Severity.HIGH,
    AlertKind.LONG_BATHROOM: Severity.HIGH,
    AlertKind.NO_ACTIVITY: Severity.LOW,
    AlertKind.ACTIVITY_DECLINE: Severity.LOW,
    AlertKind.DEVICE_OFFLINE: Severity.MEDIUM,
    AlertKind.GATEWAY_OFFLINE: Severity.MEDIUM,
    AlertKind.BATTERY_LOW: Severity.LOW,
    AlertKind.HOME_SILENT: Severity.HIGH,
}
