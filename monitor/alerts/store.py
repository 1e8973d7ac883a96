"""Alerts in the database: raise or update from rule candidates (dedupe, anti-flap), and people's transitions.

Every change is written with its ``alert_event`` row and a live event in the same transaction, so the
NOTIFY that tells dashboards goes out only when the alert is committed ("persisted before anyone is told").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from devices.errors import NotFoundError
from monitor import live
from monitor.alerts.lifecycle import Action, Status, next_status, parse_outcome
from monitor.rules.candidate import AlertCandidate
from monitor.rules.context import validate_settings
from monitor.rules.feedback import apply_feedback
from monitor.rules.kinds import EVENT_KINDS

DEFAULT_HOLDOFF = timedelta(minutes=10)

# What dashboards get in the live event; personal data stays behind the (scoped, audited) API.
LIVE_FIELDS = (
    "id", "home_id", "station_id", "kind", "severity", "status", "raised_at", "started_at", "escalate_at",
    "assigned_to", "task_id", "outcome", "occurrences", "flaps", "reason_zh", "reason_en",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Change:
    """What happened to an alert: ``action`` is raised, evidence, reopened, returned or cleared."""

    alert_id: int
    action: str
    status: str


def record_event(conn: psycopg.Connection, alert_id: int, actor: str, action: str, **detail: Any) -> None:
    conn.execute(
        "INSERT INTO alert_event (alert_id, actor, action, detail) VALUES (%s, %s, %s, %s)",
        (alert_id, actor, action, Jsonb(detail)),
    )


def publish_alert(conn: psycopg.Connection, row: dict[str, Any]) -> None:
    body = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k in LIVE_FIELDS}
    live.publish(
        conn,
        topic="alert",
        subject_id=str(row["id"]),
        station_id=row["station_id"],
        home_id=row["home_id"],
        body=body,
    )


def fetch(conn: psycopg.Connection, alert_id: int, *, lock: bool = False) -> dict[str, Any]:
    """The alert row (NotFoundError when absent); ``lock`` takes a row lock for a transition."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM alert WHERE id = %s" + (" FOR UPDATE" if lock else ""), (alert_id,)
        ).fetchone()
    if row is None:
        raise NotFoundError(f"no alert {alert_id}")
    return row


def _update(conn: psycopg.Connection, alert_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    sets = "".join(f"{k} = %s, " for k in fields)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"UPDATE alert SET {sets}updated_at = clock_timestamp() WHERE id = %s RETURNING *",
            (*fields.values(), alert_id),
        ).fetchone()
    assert row is not None
    return row


def apply_candidate(
    conn: psycopg.Connection,
    cand: AlertCandidate,
    *,
    station_id: str | None,
    holdoff: timedelta = DEFAULT_HOLDOFF,
) -> Change | None:
    """Raise, update, reopen or mark cleared the alert a rule candidate is about.

    One unresolved alert per home and kind: repeated evidence updates it. A condition that clears and
    returns within ``holdoff`` (data time) counts as a flap of the same alert, even if people resolved
    it meanwhile (it is reopened); point events (SOS, fall) after a resolution are new alerts.

    Returns:
        The change, or None for a "cleared" candidate with no alert to clear.
    """
    home_id, kind = str(cand.home_id), cand.kind.value
    if cand.clear:
        cleared = conn.execute(
            "UPDATE alert SET condition_cleared_at = %s, updated_at = clock_timestamp() WHERE id = "
            "(SELECT max(id) FROM alert WHERE home_id = %s AND kind = %s) AND condition_cleared_at IS NULL "
            "RETURNING id, status",
            (cand.detected_at, home_id, kind),
        ).fetchone()
        if cleared is None:
            return None
        record_event(conn, cleared[0], "rules", "cleared", at=cand.detected_at.isoformat())
        return Change(cleared[0], "cleared", cleared[1])
    with conn.cursor(row_factory=dict_row) as cur:
        current = cur.execute(
            "SELECT * FROM alert WHERE home_id = %s AND kind = %s AND (status <> 'resolved' OR "
            "(%s AND condition_cleared_at > %s)) ORDER BY id DESC LIMIT 1 FOR UPDATE",
            (home_id, kind, cand.kind not in EVENT_KINDS, cand.detected_at - holdoff),
        ).fetchone()
    evidence = Jsonb(cand.evidence)
    if current is None:
        return _insert(conn, cand, station_id=station_id, evidence=evidence)
    returned = current["condition_cleared_at"] is not None or current["status"] == Status.RESOLVED
    fields: dict[str, Any] = {
        "occurrences": current["occurrences"] + 1,
        "last_evidence_at": max(cand.detected_at, current["last_evidence_at"]),
        "evidence": evidence,
        "condition_cleared_at": None,
        "flaps": current["flaps"] + int(returned),
    }
    action = "returned" if returned else "evidence"
    if current["status"] == Status.RESOLVED:
        action = "reopened"
        fields |= {"status": Status.OPEN.value, "resolved_at": None, "resolved_by": None, "outcome": None,
                   "escalation_step": 0, "escalate_at": cand.notify_after or _now(conn)}  # fmt: skip
    row = _update(conn, current["id"], fields)
    at = cand.detected_at.isoformat()  # the rules' (data) time: a replay scores each return by it
    record_event(conn, row["id"], "rules", action, reason_en=cand.reason_en, evidence=cand.evidence, at=at)
    if action != "evidence":
        publish_alert(conn, row)
    return Change(row["id"], action, row["status"])


def _insert(
    conn: psycopg.Connection, cand: AlertCandidate, *, station_id: str | None, evidence: Jsonb
) -> Change:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO alert (home_id, resident_id, station_id, kind, severity, started_at, detected_at, "
            "last_evidence_at, evidence, reason_zh, reason_en, notify_after, escalate_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, clock_timestamp())) RETURNING *",
            (
                str(cand.home_id), None if cand.resident_id is None else str(cand.resident_id), station_id,
                cand.kind.value, cand.severity.value, cand.started_at, cand.detected_at, cand.detected_at,
                evidence, cand.reason_zh, cand.reason_en, cand.notify_after, cand.notify_after,
            ),
        ).fetchone()  # fmt: skip
    assert row is not None
    record_event(conn, row["id"], "rules", "raised", reason_en=cand.reason_en, evidence=cand.evidence)
    publish_alert(conn, row)
    return Change(row["id"], "raised", row["status"])


def acknowledge(conn: psycopg.Connection, alert_id: int, *, actor: str) -> dict[str, Any]:
    """Staff have seen it: escalation stops. An actor ``family:…`` is only recorded (family_acknowledge)."""
    if actor.startswith("family:"):
        return family_acknowledge(conn, alert_id, actor=actor)
    row = fetch(conn, alert_id, lock=True)
    status = next_status(row["status"], Action.ACKNOWLEDGE)
    row = _update(conn, alert_id, {"status": status.value, "acknowledged_at": _now(conn), "acknowledged_by": actor,
                                   "escalate_at": None})  # fmt: skip
    record_event(conn, alert_id, actor, "acknowledged")
    publish_alert(conn, row)
    return row


def family_acknowledge(conn: psycopg.Connection, alert_id: int, *, actor: str) -> dict[str, Any]:
    """A relative has seen it: recorded in the history and shown live; staff steps and reminders go on."""
    row = fetch(conn, alert_id, lock=True)
    next_status(row["status"], Action.FAMILY_ACKNOWLEDGE)
    row = _update(conn, alert_id, {})
    record_event(conn, alert_id, actor, "family_acknowledged")
    publish_alert(conn, row)
    return row


def assign(
    conn: psycopg.Connection, alert_id: int, *, actor: str, caregiver_id: str, task_id: int | None = None
) -> dict[str, Any]:
    """Send a caregiver (optionally with the urgent task made for it); assigning also acknowledges."""
    row = fetch(conn, alert_id, lock=True)
    status = next_status(row["status"], Action.ASSIGN)
    now = _now(conn)
    fields: dict[str, Any] = {"status": status.value, "assigned_at": now, "assigned_by": actor,
                              "assigned_to": caregiver_id, "escalate_at": None}  # fmt: skip
    if task_id is not None:
        fields["task_id"] = task_id
    if row["acknowledged_at"] is None:
        fields |= {"acknowledged_at": now, "acknowledged_by": actor}
    row = _update(conn, alert_id, fields)
    record_event(conn, alert_id, actor, "assigned", caregiver_id=caregiver_id, task_id=task_id)
    publish_alert(conn, row)
    return row


def resolve(
    conn: psycopg.Connection, alert_id: int, *, actor: str, outcome: str, notes: str = ""
) -> dict[str, Any]:
    """Close it with an outcome; the outcome nudges the resident's sensitivity for routine alerts."""
    parsed = parse_outcome(outcome)
    row = fetch(conn, alert_id, lock=True)
    status = next_status(row["status"], Action.RESOLVE)
    merged = (row["notes"] + "\n" + notes).strip() if notes else row["notes"]
    row = _update(conn, alert_id, {"status": status.value, "resolved_at": _now(conn), "resolved_by": actor,
                                   "outcome": parsed.value, "notes": merged, "escalate_at": None})  # fmt: skip
    record_event(conn, alert_id, actor, "resolved", outcome=parsed.value, notes=notes)
    if row["resident_id"] is not None:
        _feedback(conn, row["resident_id"], row["kind"], parsed.value, actor)
    publish_alert(conn, row)
    return row


def add_note(conn: psycopg.Connection, alert_id: int, *, actor: str, note: str) -> dict[str, Any]:
    """Append a note (any status)."""
    row = fetch(conn, alert_id, lock=True)
    next_status(row["status"], Action.NOTE)
    row = _update(conn, alert_id, {"notes": (row["notes"] + "\n" + note).strip()})
    record_event(conn, alert_id, actor, "note", note=note)
    return row


def history(conn: psycopg.Connection, alert_id: int) -> list[dict[str, Any]]:
    """The alert's transitions, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT at, actor, action, detail FROM alert_event WHERE alert_id = %s ORDER BY id", (alert_id,)
        ).fetchall()


def _feedback(conn: psycopg.Connection, resident_id: str, kind: str, outcome: str, actor: str) -> None:
    row = conn.execute(
        "SELECT settings FROM resident_rule_settings WHERE resident_id = %s FOR UPDATE", (resident_id,)
    ).fetchone()
    before = validate_settings(row[0] if row else {})
    after = apply_feedback(before, kind, outcome)
    if after == before:
        return
    conn.execute(
        "INSERT INTO resident_rule_settings (resident_id, settings, updated_by) VALUES (%s, %s, %s) "
        "ON CONFLICT (resident_id) DO UPDATE SET settings = excluded.settings, updated_at = now(), "
        "updated_by = excluded.updated_by",
        (resident_id, Jsonb(after.model_dump(mode="json", exclude_defaults=True)), f"feedback:{actor}"),
    )


def _now(conn: psycopg.Connection) -> datetime:
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value
