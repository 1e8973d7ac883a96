"""Escalation ladders: validated steps (after how long, whom, through which channels) and the default ladder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from devices.errors import ValidationFailed


class Target(StrEnum):
    STAFF = "staff"  # the station's on-duty staff (dashboard + their contacts in the step)
    FAMILY = "family"  # the resident's emergency contacts who consented to be notified
    MANAGER = "manager"  # the station manager (contacts in the step)
    EMERGENCY = "emergency"  # a "call emergency services now" prompt to staff and manager


class Channel(StrEnum):
    LOG = "log"  # the process log and the dashboard only (development, and always for staff)
    WEBHOOK = "webhook"
    SMS = "sms"
    EMAIL = "email"


MAX_RECIPIENTS = 20  # per step: a ladder is not a mailing list


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    after_min: float = Field(ge=0, le=24 * 60, description="minutes after the alert was raised")
    target: Target
    channels: tuple[Channel, ...] = Field(default=(Channel.LOG,), min_length=1)
    recipients: tuple[str, ...] = Field(
        default=(),
        max_length=MAX_RECIPIENTS,
        description="phones / e-mails / allowlisted URLs for staff and manager",
    )

    @field_validator("recipients")
    @classmethod
    def _bounded(cls, recipients: tuple[str, ...]) -> tuple[str, ...]:
        for recipient in recipients:
            if not 1 <= len(recipient) <= 254 or any(c in recipient for c in "\r\n\0"):
                raise ValueError(f"recipient {recipient[:40]!r}: 1 to 254 characters on one line")
        return recipients


MAX_STEPS = 10


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: tuple[Step, ...] = Field(min_length=1, max_length=MAX_STEPS)
    repeat_every_min: float | None = Field(
        default=None,
        ge=1,
        le=24 * 60,
        description="until staff acknowledge, repeat the latest staff-side step this often (minutes)",
    )

    @field_validator("steps")
    @classmethod
    def _ordered(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        if steps[0].after_min != 0:
            raise ValueError("the first step must run at once (after_min 0)")
        times = [s.after_min for s in steps]
        if times != sorted(times):
            raise ValueError("steps must be in order of after_min")
        return steps


DEFAULT_POLICY = Policy(
    steps=(
        Step(after_min=0, target=Target.STAFF),
        Step(after_min=5, target=Target.FAMILY, channels=(Channel.SMS,)),
        Step(after_min=15, target=Target.MANAGER),
        Step(after_min=30, target=Target.EMERGENCY),
    )
)


class PolicyError(ValidationFailed):
    code = "invalid_escalation_policy"


def validate_policy(data: Mapping[str, Any] | Sequence[Any]) -> Policy:
    """Validate a ladder as saved by a user: ``{"steps": [...]}`` or the list of steps itself."""
    raw = {"steps": list(data)} if isinstance(data, Sequence) else dict(data)
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"invalid escalation policy: {reasons}") from None


def step_due(policy: Policy, step: int, raised_at: datetime) -> datetime | None:
    """When step number ``step`` is due for an alert raised at ``raised_at`` (None: the ladder is done)."""
    if step >= len(policy.steps):
        return None
    return raised_at + timedelta(minutes=policy.steps[step].after_min)


def reminder_step(policy: Policy, steps_run: int) -> int | None:
    """The step a reminder repeats once ``steps_run`` steps have run: the latest one aimed at the staff side.

    Family steps are never repeated (a relative is told once per step); a ladder whose run steps are all
    family steps has nothing to remind, and None says so.
    """
    for index in range(min(steps_run, len(policy.steps)) - 1, -1, -1):
        if policy.steps[index].target is not Target.FAMILY:
            return index
    return None


def next_due(policy: Policy, steps_run: int, raised_at: datetime, *, now: datetime) -> datetime | None:
    """When the ladder next acts after ``steps_run`` steps: the next step or a reminder, whichever is first.

    None when nothing is left to do (the ladder is done and it has no reminder interval).
    """
    due = step_due(policy, steps_run, raised_at)
    if policy.repeat_every_min is not None and reminder_step(policy, steps_run) is not None:
        remind = now + timedelta(minutes=policy.repeat_every_min)
        due = remind if due is None else min(due, remind)
    return None if due is None else max(due, now)
