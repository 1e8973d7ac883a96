"""Pure lifecycle rules: which action may follow which status, and what status it leads to."""

from __future__ import annotations

from enum import StrEnum

from devices.errors import ConflictError, ValidationFailed
from monitor.rules.feedback import Outcome


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    FAMILY_ACKNOWLEDGE = "family_acknowledge"  # recorded and shown; the status and the ladder go on
    ASSIGN = "assign"
    RESOLVE = "resolve"
    NOTE = "note"


# Only staff acknowledge (status "acknowledged", the ladder stops): a relative who has seen the alert is
# recorded, but the telecare centre still owns it until one of its staff acknowledges.
# An alert may be assigned without a separate acknowledgement (assigning someone is acknowledging it),
# re-assigned to another caregiver, and resolved from any unresolved status.
_ALLOWED: dict[Action, frozenset[Status]] = {
    Action.ACKNOWLEDGE: frozenset({Status.OPEN}),
    Action.FAMILY_ACKNOWLEDGE: frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.ASSIGNED}),
    Action.ASSIGN: frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.ASSIGNED}),
    Action.RESOLVE: frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.ASSIGNED}),
    Action.NOTE: frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.ASSIGNED, Status.RESOLVED}),
}
_RESULT = {
    Action.ACKNOWLEDGE: Status.ACKNOWLEDGED,
    Action.ASSIGN: Status.ASSIGNED,
    Action.RESOLVE: Status.RESOLVED,
}


class TransitionRefused(ConflictError):
    code = "alert_transition_refused"


def next_status(current: Status | str, action: Action) -> Status:
    """The status after ``action``; TransitionRefused when the action does not apply to ``current``."""
    status = Status(current)
    if status not in _ALLOWED[action]:
        raise TransitionRefused(f"cannot {action.value} an alert that is {status.value}")
    return _RESULT.get(action, status)


def parse_outcome(value: str) -> Outcome:
    """A resolution outcome, or ValidationFailed naming the allowed values."""
    try:
        return Outcome(value)
    except ValueError:
        allowed = ", ".join(o.value for o in Outcome)
        raise ValidationFailed(f"outcome must be one of {allowed}, got {value!r}") from None
