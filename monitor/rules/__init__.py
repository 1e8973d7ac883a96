"""Pure anomaly rules: per-home state, personal baselines and the engine that turns readings into alerts."""

from monitor.rules.baseline import Baseline, build_baseline, episodes_from_readings
from monitor.rules.candidate import AlertCandidate
from monitor.rules.context import (
    DeviceInfo,
    HomeContext,
    ResidentSettings,
    RuleConfigError,
    validate_settings,
)
from monitor.rules.engine import Engine, on_reading, on_tick
from monitor.rules.feedback import Outcome, adjust_sensitivity, apply_feedback
from monitor.rules.kinds import AlertKind, Severity
from monitor.rules.state import Episodes, HomeState

__all__ = [
    "AlertCandidate",
    "AlertKind",
    "Baseline",
    "DeviceInfo",
    "Engine",
    "Episodes",
    "HomeContext",
    "HomeState",
    "Outcome",
    "ResidentSettings",
    "RuleConfigError",
    "Severity",
    "adjust_sensitivity",
    "apply_feedback",
    "build_baseline",
    "episodes_from_readings",
    "on_reading",
    "on_tick",
    "validate_settings",
]
