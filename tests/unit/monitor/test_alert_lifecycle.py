"""The pure parts of alerts: which transitions are allowed, outcome parsing, escalation ladders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.errors import ConflictError, ValidationFailed
from monitor.alerts.lifecycle import Action, Status, TransitionRefused, next_status, parse_outcome
from monitor.alerts.outbox import backoff
from monitor.alerts.policy import DEFAULT_POLICY, PolicyError, Target, step_due, validate_policy


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        (Status.OPEN, Action.ACKNOWLEDGE, Status.ACKNOWLEDGED),
        (Status.OPEN, Action.ASSIGN, Status.ASSIGNED),
        (Status.ACKNOWLEDGED, Action.ASSIGN, Status.ASSIGNED),
        (Status.ASSIGNED, Action.ASSIGN, Status.ASSIGNED),
        (Status.OPEN, Action.RESOLVE, Status.RESOLVED),
        (Status.ASSIGNED, Action.RESOLVE, Status.RESOLVED),
        (Status.RESOLVED, Action.NOTE, Status.RESOLVED),
    ],
)
def test_allowed_transitions(status: Status, action: Action, expected: Status) -> None:
    assert next_status(status, action) is expected


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (Status.ACKNOWLEDGED, Action.ACKNOWLEDGE),
        (Status.ASSIGNED, Action.ACKNOWLEDGE),
        (Status.RESOLVED, Action.ACKNOWLEDGE),
        (Status.RESOLVED, Action.ASSIGN),
        (Status.RESOLVED, Action.RESOLVE),
    ],
)
def test_refused_transitions_are_conflicts(status: Status, action: Action) -> None:
    with pytest.raises(TransitionRefused) as err:
        next_status(status, action)
    assert isinstance(err.value, ConflictError)
    assert status.value in err.value.message


def test_outcome_values() -> None:
    assert parse_outcome("false_alarm").value == "false_alarm"
    with pytest.raises(ValidationFailed, match="real_incident, false_alarm, no_action_needed"):
        parse_outcome("maybe")


def test_default_ladder_and_due_times() -> None:
    raised = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert [s.target for s in DEFAULT_POLICY.steps] == [
        Target.STAFF,
        Target.FAMILY,
        Target.MANAGER,
        Target.EMERGENCY,
    ]
    assert step_due(DEFAULT_POLICY, 0, raised) == raised
    assert step_due(DEFAULT_POLICY, 1, raised) == raised + timedelta(minutes=5)
    assert step_due(DEFAULT_POLICY, len(DEFAULT_POLICY.steps), raised) is None


@pytest.mark.parametrize(
    ("steps", "fragment"),
    [
        ([], "steps"),
        ([{"after_min": 5, "target": "staff"}], "first step must run at once"),
        ([{"after_min": 0, "target": "staff"}, {"after_min": 10, "target": "family"},
          {"after_min": 5, "target": "manager"}], "in order"),
        ([{"after_min": 0, "target": "police"}], "steps.0.target"),
        ([{"after_min": 0, "target": "staff", "channels": ["pigeon"]}], "steps.0.channels.0"),
        ([{"after_min": -1, "target": "staff"}], "after_min"),
        ([{"after_min": 0, "target": "staff", "extra": 1}], "extra"),
    ],
)  # fmt: skip
def test_bad_ladders_are_refused_with_the_field(steps: list[dict[str, object]], fragment: str) -> None:
    with pytest.raises(PolicyError) as err:
        validate_policy({"steps": steps})
    assert fragment in err.value.message
    assert isinstance(err.value, ValidationFailed)


def test_ladder_accepts_a_bare_list() -> None:
    policy = validate_policy(
        [{"after_min": 0, "target": "staff"}, {"after_min": 2, "target": "family", "channels": ["sms"]}]
    )
    assert len(policy.steps) == 2


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [10, 20, 40]
    assert backoff(30) == timedelta(minutes=10)
