"""Alerts in the database: dedupe, anti-flap, the lifecycle with its history, feedback, escalation, outbox."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import psycopg
import pytest

from monitor.alerts import escalation, outbox, store
from monitor.alerts.lifecycle import TransitionRefused
from monitor.alerts.policy import PolicyError
from monitor.rules.candidate import AlertCandidate
from monitor.rules.kinds import AlertKind, Severity
from tests.support import make_home
from web.settings import Settings

pytestmark = pytest.mark.db
T0 = datetime(
    2019, 5, 6, 8, 0, tzinfo=UTC
)  # a Monday long before any live data (escalation picks the oldest due first)


def cand(
    home_id: str, kind: AlertKind, at: datetime, *, clear: bool = False, resident: str | None = None
) -> AlertCandidate:
    return AlertCandidate(
        home_id=home_id, resident_id=resident, kind=kind, severity=Severity.HIGH, started_at=at - timedelta(minutes=30),
        detected_at=at, evidence={"room": "bathroom"}, reason_zh="卫生间长时间无活动", reason_en="no movement in the bathroom",
        clear=clear,
    )  # fmt: skip


def resident_of(db: psycopg.Connection, home_id: str) -> str:
    row = db.execute("SELECT id FROM resident WHERE home_id = %s", (home_id,)).fetchone()
    assert row is not None
    return str(row[0])


def station_of(db: psycopg.Connection, home_id: str) -> str:
    row = db.execute("SELECT station_id FROM home WHERE id = %s", (home_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_one_alert_per_home_and_kind_with_live_events(db: psycopg.Connection, settings: Settings) -> None:
    home = make_home(db, settings)
    st = station_of(db, home.home_id)
    first = store.apply_candidate(db, cand(home.home_id, AlertKind.INACTIVITY, T0), station_id=st)
    again = store.apply_candidate(
        db, cand(home.home_id, AlertKind.INACTIVITY, T0 + timedelta(minutes=1)), station_id=st
    )
    other = store.apply_candidate(db, cand(home.home_id, AlertKind.SMOKE, T0), station_id=st)
    assert first is not None
    assert again is not None
    assert other is not None
    assert (first.action, again.action) == ("raised", "evidence")
    assert again.alert_id == first.alert_id != other.alert_id
    row = store.fetch(db, first.alert_id)
    assert row["occurrences"] == 2
    assert row["status"] == "open"
    assert row["station_id"] == st
    lives = db.execute(
        "SELECT subject_id, body->>'status' FROM live_event WHERE topic = 'alert' AND home_id = %s ORDER BY id",
        (home.home_id,),
    ).fetchall()
    assert lives == [(str(first.alert_id), "open"), (str(other.alert_id), "open")]  # evidence alone is quiet


def test_anti_flap_within_the_holdoff_keeps_one_alert(db: psycopg.Connection, settings: Settings) -> None:
    home = make_home(db, settings)
    st, kind, hold = station_of(db, home.home_id), AlertKind.COLD, timedelta(minutes=10)
    raised = store.apply_candidate(db, cand(home.home_id, kind, T0), station_id=st, holdoff=hold)
    cleared = store.apply_candidate(
        db, cand(home.home_id, kind, T0 + timedelta(minutes=2), clear=True), station_id=st
    )
    back = store.apply_candidate(
        db, cand(home.home_id, kind, T0 + timedelta(minutes=5)), station_id=st, holdoff=hold
    )
    assert raised
    assert cleared
    assert back
    assert cleared.action == "cleared"
    assert back.action == "returned"
    assert back.alert_id == raised.alert_id
    assert store.fetch(db, raised.alert_id)["flaps"] == 1
    # Resolved by people, then the condition clears and comes back within the hold-off: the same alert reopens.
    store.resolve(db, raised.alert_id, actor="staff:test", outcome="no_action_needed")
    store.apply_candidate(db, cand(home.home_id, kind, T0 + timedelta(minutes=6), clear=True), station_id=st)
    store.apply_candidate(db, cand(home.home_id, kind, T0 + timedelta(minutes=8), clear=True), station_id=st)
    reopened = store.apply_candidate(
        db, cand(home.home_id, kind, T0 + timedelta(minutes=9)), station_id=st, holdoff=hold
    )
    assert reopened
    assert reopened.action == "reopened"
    assert reopened.alert_id == raised.alert_id
    row = store.fetch(db, raised.alert_id)
    assert row["status"] == "open"
    assert row["resolved_at"] is None
    assert row["flaps"] == 2
    # Resolved, cleared, and back only after the hold-off: a new alert.
    store.resolve(db, raised.alert_id, actor="staff:test", outcome="real_incident")
    store.apply_candidate(db, cand(home.home_id, kind, T0 + timedelta(minutes=10), clear=True), station_id=st)
    later = store.apply_candidate(
        db, cand(home.home_id, kind, T0 + timedelta(minutes=40)), station_id=st, holdoff=hold
    )
    assert later
    assert later.action == "raised"
    assert later.alert_id != raised.alert_id


def test_a_new_sos_after_resolution_is_a_new_alert(db: psycopg.Connection, settings: Settings) -> None:
    home = make_home(db, settings)
    st = station_of(db, home.home_id)
    a = store.apply_candidate(db, cand(home.home_id, AlertKind.SOS, T0), station_id=st)
    assert a is not None
    store.resolve(db, a.alert_id, actor="staff:x", outcome="real_incident")
    b = store.apply_candidate(db, cand(home.home_id, AlertKind.SOS, T0 + timedelta(minutes=1)), station_id=st)
    assert b is not None
    assert b.action == "raised"
    assert b.alert_id != a.alert_id


def test_lifecycle_records_who_and_when_and_refuses_bad_steps(
    db: psycopg.Connection, settings: Settings
) -> None:
    home = make_home(db, settings)
    st = station_of(db, home.home_id)
    ch = store.apply_candidate(db, cand(home.home_id, AlertKind.SOS, T0), station_id=st)
    assert ch is not None
    acked = store.acknowledge(db, ch.alert_id, actor="staff:li")
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_by"] == "staff:li"
    assert acked["escalate_at"] is None
    with pytest.raises(TransitionRefused):
        store.acknowledge(db, ch.alert_id, actor="staff:li")
    assigned = store.assign(db, ch.alert_id, actor="staff:li", caregiver_id="cg-1")
    assert assigned["status"] == "assigned"
    assert assigned["assigned_to"] == "cg-1"
    store.add_note(db, ch.alert_id, actor="staff:li", note="已电话联系")
    done = store.resolve(db, ch.alert_id, actor="staff:wang", outcome="real_incident", notes="摔倒，已送医")
    assert done["status"] == "resolved"
    assert done["outcome"] == "real_incident"
    assert "已送医" in done["notes"]
    with pytest.raises(TransitionRefused):
        store.assign(db, ch.alert_id, actor="staff:li", caregiver_id="cg-2")
    actions = [(e["actor"], e["action"]) for e in store.history(db, ch.alert_id)]
    assert actions == [("rules", "raised"), ("staff:li", "acknowledged"), ("staff:li", "assigned"),
                       ("staff:li", "note"), ("staff:wang", "resolved")]  # fmt: skip


def test_false_alarms_lower_the_residents_sensitivity(db: psycopg.Connection, settings: Settings) -> None:
    home = make_home(db, settings)
    st, resident = station_of(db, home.home_id), resident_of(db, home.home_id)
    for i in range(2):
        ch = store.apply_candidate(
            db,
            cand(home.home_id, AlertKind.INACTIVITY, T0 + timedelta(hours=i), resident=resident),
            station_id=st,
        )
        assert ch is not None
        store.resolve(db, ch.alert_id, actor="staff:li", outcome="false_alarm")
    row = db.execute(
        "SELECT settings FROM resident_rule_settings WHERE resident_id = %s", (resident,)
    ).fetchone()
    assert row is not None
    assert row[0]["sensitivity"] == pytest.approx(0.81)
    # An SOS resolved as a false alarm says nothing about the routine model.
    sos = store.apply_candidate(db, cand(home.home_id, AlertKind.SOS, T0, resident=resident), station_id=st)
    assert sos is not None
    store.resolve(db, sos.alert_id, actor="staff:li", outcome="false_alarm")
    row = db.execute(
        "SELECT settings FROM resident_rule_settings WHERE resident_id = %s", (resident,)
    ).fetchone()
    assert row is not None
    assert row[0]["sensitivity"] == pytest.approx(0.81)


def test_escalation_ladder_runs_once_per_step_and_stops_when_acknowledged(
    db: psycopg.Connection, settings: Settings
) -> None:
    home = make_home(db, settings)
    st, resident = station_of(db, home.home_id), resident_of(db, home.home_id)
    contacts = [{"name": "女儿", "phone": "13800000001", "consent_notify": True},
                {"name": "邻居", "phone": "13800000002", "consent_notify": False}]  # fmt: skip
    db.execute("UPDATE resident SET emergency_contacts = %s WHERE id = %s", (json.dumps(contacts), resident))
    escalation.save_policy(db, st, [
        {"after_min": 0, "target": "staff", "channels": ["log", "webhook"], "recipients": ["http://127.0.0.1:9/x"]},
        {"after_min": 5, "target": "family", "channels": ["sms"]},
        {"after_min": 15, "target": "manager"},
    ], actor="test", webhook_allowlist=["http://127.0.0.1:9/x"])  # fmt: skip
    with pytest.raises(PolicyError):
        escalation.save_policy(db, st, [{"after_min": 3, "target": "staff"}], actor="test")
    ch = store.apply_candidate(db, cand(home.home_id, AlertKind.SOS, T0, resident=resident), station_id=st)
    assert ch is not None
    raised_at = store.fetch(db, ch.alert_id)["raised_at"]

    def notes() -> list[tuple[int, str, str, str]]:
        rows = db.execute(
            "SELECT step, target, channel, recipient FROM notification WHERE alert_id = %s ORDER BY step, id",
            (ch.alert_id,),
        ).fetchall()
        return [tuple(r) for r in rows]

    escalation.run_due(db, now=raised_at + timedelta(seconds=1))
    escalation.run_due(db, now=raised_at + timedelta(seconds=2))  # nothing new is due
    assert notes() == [
        (0, "staff", "log", "http://127.0.0.1:9/x"),
        (0, "staff", "webhook", "http://127.0.0.1:9/x"),
    ]
    assert store.fetch(db, ch.alert_id)["escalate_at"] == raised_at + timedelta(minutes=5)
    escalation.run_due(db, now=raised_at + timedelta(minutes=6))
    assert notes()[2:] == [(1, "family", "sms", "13800000001")]  # only the contact who consented
    store.acknowledge(db, ch.alert_id, actor="staff:duty")
    escalation.run_due(db, now=raised_at + timedelta(minutes=60))
    assert len(notes()) == 3  # acknowledged by staff: the manager is not called


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []
    fail: ClassVar[bool] = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(body)
        self.send_response(500 if type(self).fail else 204)
        self.end_headers()

    def log_message(self, *_a: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    _Hook.received, _Hook.fail = [], False
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Hook
    server.shutdown()


def test_outbox_sends_retries_and_fails_visibly(
    db: psycopg.Connection, settings: Settings, hook: tuple[str, type[_Hook]]
) -> None:
    url, handler = hook
    home = make_home(db, settings)
    st = station_of(db, home.home_id)
    ch = store.apply_candidate(db, cand(home.home_id, AlertKind.SMOKE, T0), station_id=st)
    assert ch is not None
    now = datetime.now(UTC)
    rows = [
        (0, "staff", "webhook", url),
        (0, "family", "sms", "13800000009"),
        (0, "staff", "carrier-pigeon", "x"),
    ]
    for step, target, channel, recipient in rows:
        db.execute(
            "INSERT INTO notification (alert_id, step, target, channel, recipient, subject, body, next_attempt_at) "
            "VALUES (%s, %s, %s, %s, %s, '烟雾告警', 'body', %s)",
            (ch.alert_id, step, target, channel, recipient, now),
        )
    channels = outbox.senders(outbox.NotifySettings(timeout_s=2, webhook_allowlist=(url,)))
    handler.fail = True
    sent, failed = outbox.deliver_pending(db, channels, now=now)
    assert (sent, failed) == (0, 3)
    assert len(handler.received) == 1
    status: dict[str, str] = dict(
        db.execute("SELECT channel, status FROM notification WHERE alert_id = %s", (ch.alert_id,)).fetchall()
    )
    assert status == {
        "webhook": "pending",
        "sms": "failed",
        "carrier-pigeon": "failed",
    }  # not configured: final
    errors: dict[str, str] = dict(
        db.execute(
            "SELECT channel, last_error FROM notification WHERE alert_id = %s", (ch.alert_id,)
        ).fetchall()
    )
    assert "SMS gateway" in errors["sms"]
    assert "HTTP Error 500" in errors["webhook"]
    assert outbox.deliver_pending(db, channels, now=now + timedelta(seconds=5)) == (0, 0)  # backing off
    handler.fail = False
    assert outbox.deliver_pending(db, channels, now=now + timedelta(seconds=11)) == (1, 0)
    assert handler.received[-1]["subject"] == "烟雾告警"
    row = db.execute("SELECT status, attempts FROM notification WHERE channel = 'webhook' AND alert_id = %s",
                     (ch.alert_id,)).fetchone()  # fmt: skip
    assert row == ("sent", 2)
