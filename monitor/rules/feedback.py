"""Sensitivity feedback: resolution outcomes of routine alerts nudge the resident's sensitivity, bounded."""

from __future__ import annotations

from enum import StrEnum

from monitor.rules.context import ResidentSettings
from monitor.rules.kinds import ROUTINE_KINDS, AlertKind

MIN_SENSITIVITY, MAX_SENSITIVITY = 0.5, 2.0


class Outcome(StrEnum):
    REAL_INCIDENT = "real_incident"
    FALSE_ALARM = "false_alarm"
    NO_ACTION_NEEDED = "no_action_needed"


_FACTOR = {Outcome.REAL_INCIDENT: 1.10, Outcome.FALSE_ALARM: 0.90, Outcome.NO_ACTION_NEEDED: 0.97}


def adjust_sensitivity(current: float, outcome: Outcome | str) -> float:
    """The next sensitivity after one resolved alert: false alarm -> less sensitive, real incident -> more.

    Returns:
        The new value, kept within 0.5..2.0.
    """
    factor = _FACTOR[Outcome(outcome)]
    return round(min(MAX_SENSITIVITY, max(MIN_SENSITIVITY, current * factor)), 3)


def apply_feedback(
    settings: ResidentSettings, kind: AlertKind | str, outcome: Outcome | str
) -> ResidentSettings:
    """Settings after an alert of ``kind`` was resolved with ``outcome``.

    Only routine (habit-based) alerts move the sensitivity: a false SOS or a smoke test says nothing about
    how well the resident's routine is modelled.
    """
    if AlertKind(kind) not in ROUTINE_KINDS:
        return settings
    return settings.model_copy(update={"sensitivity": adjust_sensitivity(settings.sensitivity, outcome)})
