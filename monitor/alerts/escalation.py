"""Escalation in the database: run the due step of each unacknowledged alert's ladder, writing the outbox.

The next due time is stored on the alert (``escalate_at``), so a restart of the rules process neither
loses nor repeats a step; the unique key on notifications makes a re-run of the same step harmless.

Only a staff acknowledgement (or an assignment) stops the ladder: a relative's acknowledgement is recorded
in the alert's history (``family_acknowledged``) while staff, manager and "call 120" steps keep running.
With ``repeat_every_min`` an alert nobody on the staff side has acknowledged gets a reminder on that
interval (the latest staff-side step again) until it is acknowledged. Reminder rows use the notification
step ``index + REMINDER_STRIDE * round`` so the unique key keeps each round's rows apart from the ladder's.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from monitor.alerts.outbox import is_url, url_allowed
from monitor.alerts.policy import (
    DEFAULT_POLICY,
    MAX_STEPS,
    Channel,
    Policy,
    PolicyError,
    Step,
    Target,
    next_due,
    reminder_step,
    step_due,
    validate_policy,
)
from monitor.alerts.store import publish_alert, record_event

log = logging.getLogger("eldercare.escalation")
REMINDER_STRIDE = MAX_STEPS * 10  # notification.step of reminder round r of step i: i + REMINDER_STRIDE * r

_TEXT = {
    Target.STAFF: ("【居家安全告警】", "Home-safety alert"),
    Target.FAMILY: ("【家人告警通知】", "Alert about your relative"),
    Target.MANAGER: ("【告警升级】尚未确认", "Escalated: still not acknowledged"),
    Target.EMERGENCY: ("【请立即拨打120/110】", "Call emergency services now"),
}


def policy_for(conn: psycopg.Connection, station_id: str | None) -> Policy:
    """The station's ladder, else the '*' default stored in the database, else the built-in default."""
    row = conn.execute(
        "SELECT steps FROM escalation_policy WHERE station_id = ANY(%s) ORDER BY station_id = '*' LIMIT 1",
        ([station_id or "*", "*"],),
    ).fetchone()
    return validate_policy(row[0]) if row else DEFAULT_POLICY


def save_policy(
    conn: psycopg.Connection,
    station_id: str,
    steps: Any,
    *,
    actor: str,
    webhook_allowlist: Collection[str] = (),
) -> Policy:
    """Validate and store a station's ladder (PolicyError names the field and the reason).

    A recipient that is a URL must be on ``webhook_allowlist`` (the deployment's notification
    destinations, see ``outbox.url_allowed``): staff choose among destinations, they cannot add one.
    """
    policy = validate_policy(steps)
    for n, step in enumerate(policy.steps):
        for recipient in step.recipients:
            if is_url(recipient) and not url_allowed(recipient, webhook_allowlist):
                raise PolicyError(
                    f"invalid escalation policy: steps.{n}.recipients: {recipient!r} is not an allowed "
                    "notification destination (ELDERCARE_NOTIFY_WEBHOOK_ALLOWLIST)"
                )
    stored = policy.model_dump(mode="json", exclude_none=True)
    conn.execute(
        "INSERT INTO escalation_policy (station_id, steps, updated_by) VALUES (%s, %s, %s) "
        "ON CONFLICT (station_id) DO UPDATE SET steps = excluded.steps, updated_at = now(), "
        "updated_by = excluded.updated_by",
        (station_id, Jsonb(stored if policy.repeat_every_min is not None else stored["steps"]), actor),
    )
    return policy


def _recipients(step: Step, alert: dict[str, Any], channel: Channel) -> list[str]:
    if step.target is Target.FAMILY:
        contacts = [c for c in alert.get("emergency_contacts") or [] if c.get("consent_notify")]
        if channel is Channel.LOG:
            return [f"family:{alert['resident_id']}:{c.get('name', '?')}" for c in contacts]
        key = "email" if channel is Channel.EMAIL else "phone"
        return [str(c[key]) for c in contacts if c.get(key)]
    if step.recipients:
        return list(step.recipients)
    return [f"{step.target.value}:{alert['station_id']}"] if channel in (Channel.LOG, Channel.WEBHOOK) else []


def _message(step: Step, alert: dict[str, Any]) -> tuple[str, str]:
    zh, en = _TEXT[step.target]
    subject = f"{zh} {en}: {alert['kind']} ({alert['severity']})"
    body = (
        f"{alert['reason_zh']}\n{alert['reason_en']}\n"
        f"alert {alert['id']} · home {alert['home_id']} · raised {alert['raised_at']:%Y-%m-%d %H:%M:%S %Z}"
    )
    return subject, body


def _write(
    conn: psycopg.Connection, alert: dict[str, Any], step: Step, number: int, *, prefix: str = ""
) -> int:
    subject, body = _message(step, alert)
    written = 0
    for channel in step.channels:
        for recipient in _recipients(step, alert, channel):
            inserted = conn.execute(
                "INSERT INTO notification (alert_id, step, target, channel, recipient, subject, body) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (alert["id"], number, step.target.value, channel.value, recipient, prefix + subject, body),
            )
            written += inserted.rowcount
    return written


def _schedule(
    conn: psycopg.Connection, alert: dict[str, Any], policy: Policy, steps_run: int, *, now: datetime
) -> dict[str, Any]:
    due = next_due(policy, steps_run, alert["raised_at"], now=now)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "UPDATE alert SET escalation_step = %s, escalate_at = %s, updated_at = clock_timestamp() "
            "WHERE id = %s RETURNING *",
            (steps_run, due, alert["id"]),
        ).fetchone()
    assert row is not None
    return row


def run_step(conn: psycopg.Connection, alert: dict[str, Any], policy: Policy, *, now: datetime) -> int:
    """Write the outbox rows of the alert's due step and schedule what comes next; returns rows written."""
    index = alert["escalation_step"]
    step = policy.steps[index]
    written = _write(conn, alert, step, index)
    action = "notified" if index == 0 else "escalated"
    record_event(
        conn, alert["id"], "escalation", action, step=index, target=step.target.value, notifications=written
    )
    row = _schedule(conn, alert, policy, index + 1, now=now)
    if index > 0:
        publish_alert(conn, row)
    return written


def run_reminder(conn: psycopg.Connection, alert: dict[str, Any], policy: Policy, *, now: datetime) -> int:
    """Repeat the latest staff-side step of an alert staff have not acknowledged; returns rows written."""
    steps_run = alert["escalation_step"]
    index = reminder_step(policy, steps_run)
    if index is None:
        _schedule(conn, alert, policy, steps_run, now=now)
        return 0
    done = conn.execute(
        "SELECT count(*) FROM alert_event WHERE alert_id = %s AND action = 'reminded'", (alert["id"],)
    ).fetchone()
    round_ = (done[0] if done else 0) + 1
    step = policy.steps[index]
    written = _write(
        conn, alert, step, index + REMINDER_STRIDE * round_, prefix=f"【提醒 Reminder {round_}】"
    )
    record_event(
        conn, alert["id"], "escalation", "reminded", step=index, round=round_, target=step.target.value,
        notifications=written,
    )  # fmt: skip
    publish_alert(conn, _schedule(conn, alert, policy, steps_run, now=now))
    return written


def run_due(conn: psycopg.Connection, *, now: datetime, limit: int = 200) -> int:
    """Run every due escalation step (alerts still open, quiet hours over); returns steps run.

    Commits nothing itself: the caller commits, so a crash before the commit re-runs the same steps.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        due = cur.execute(
            "SELECT a.*, r.emergency_contacts FROM alert a LEFT JOIN resident r ON r.id = a.resident_id "
            "WHERE a.escalate_at <= %s AND a.status = 'open' AND (a.notify_after IS NULL OR a.notify_after <= %s) "
            "ORDER BY a.escalate_at LIMIT %s FOR UPDATE OF a SKIP LOCKED",
            (now, now, limit),
        ).fetchall()
    policies: dict[str | None, Policy] = {}
    for alert in due:
        station = alert["station_id"]
        if station not in policies:
            policies[station] = policy_for(conn, station)
        policy = policies[station]
        step_at = step_due(policy, alert["escalation_step"], alert["raised_at"])
        if step_at is not None and step_at <= now:
            run_step(conn, alert, policy, now=now)
        elif policy.repeat_every_min is not None:
            run_reminder(conn, alert, policy, now=now)
        else:  # the ladder changed or is done: reschedule (NULL when nothing is left)
            _schedule(conn, alert, policy, alert["escalation_step"], now=now)
    return len(due)
