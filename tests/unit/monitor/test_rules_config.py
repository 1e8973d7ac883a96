from datetime import time

import pytest

from monitor.rules import (
    AlertKind,
    Outcome,
    ResidentSettings,
    RuleConfigError,
    adjust_sensitivity,
    apply_feedback,
    validate_settings,
)


def test_defaults_are_valid_and_sensible() -> None:
    s = validate_settings({})
    assert s.sensitivity == 1.0
    assert s.temperature.min_c == 16
    assert s.temperature.max_c == 30
    assert s.quiet_hours is not None
    assert s.quiet_hours.start == time(22, 0)


def test_full_config_round_trips() -> None:
    data = {
        "sensitivity": 1.5,
        "quiet_hours": {"start": "21:30", "end": "06:30"},
        "hospital": True,
        "temperature": {"min_c": 18, "max_c": 28, "duration_min": 10},
        "rules": {"inactivity": {"threshold_min": 45}, "no_water": {"enabled": False}},
        "device_timeout_min": {"motion": 300},
    }
    s = validate_settings(data)
    assert validate_settings(s.model_dump(mode="json")) == s
    assert s.limit_min(AlertKind.INACTIVITY, 120) == 45  # an explicit threshold wins
    assert s.limit_min(AlertKind.NOT_UP, 120) == 80  # others scale with sensitivity
    assert not s.enabled(AlertKind.NO_WATER)


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"sensitivity": 3}, "sensitivity", "less than or equal to 2"),
        ({"sensitivity": 0.1}, "sensitivity", "greater than or equal to 0.5"),
        ({"temperature": {"min_c": 25, "max_c": 26}}, "temperature", "at least 4 degrees"),
        ({"temperature": {"duration_min": 0}}, "temperature.duration_min", "greater than or equal to 1"),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours", "start and end must differ"),
        ({"rules": {"sos": {"enabled": False}}}, "rules", "sos rule cannot be disabled"),
        ({"rules": {"smoke": {"enabled": False}}}, "rules", "smoke rule cannot be disabled"),
        ({"rules": {"teleport": {}}}, "rules.teleport", "Input should be"),
        (
            {"rules": {"inactivity": {"threshold_min": -5}}},
            "rules.inactivity.threshold_min",
            "greater than 0",
        ),
        ({"device_timeout_min": {"motion": 1}}, "device_timeout_min", "between 2 and 10080"),
        ({"sensitivty": 1.2}, "sensitivty", "Extra inputs are not permitted"),
    ],
)
def test_invalid_config_names_field_and_reason(data: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(RuleConfigError) as info:
        validate_settings(data)
    fields = [f for f, _ in info.value.errors]
    assert field in fields, fields
    assert reason in info.value.message
    assert info.value.code == "invalid_rule_config"


def test_feedback_moves_sensitivity_within_bounds() -> None:
    assert adjust_sensitivity(1.0, Outcome.FALSE_ALARM) < 1.0
    assert adjust_sensitivity(1.0, "real_incident") > 1.0
    s = 1.0
    for _ in range(50):
        s = adjust_sensitivity(s, Outcome.FALSE_ALARM)
    assert s == 0.5
    for _ in range(50):
        s = adjust_sensitivity(s, Outcome.REAL_INCIDENT)
    assert s == 2.0


def test_feedback_only_from_routine_alerts() -> None:
    s = ResidentSettings()
    assert apply_feedback(s, AlertKind.SOS, Outcome.FALSE_ALARM).sensitivity == 1.0
    assert apply_feedback(s, AlertKind.INACTIVITY, Outcome.FALSE_ALARM).sensitivity == 0.9
    assert apply_feedback(s, "not_up", "real_incident").sensitivity == 1.1
