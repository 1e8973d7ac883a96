"""Escalation a telecare centre would sign: a relative's acknowledgement is recorded but does not stop the
staff, manager and "call 120" steps; reminders repeat on the ladder's interval until staff acknowledge.

Real database; time moves only through the ``now=`` parameters.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import psycopg
import pytest

from monitor.alerts import escalation, store
from monitor.alerts.escalation import REMINDER_STRIDE
from monitor.alerts.policy import PolicyError
from monitor.rules.kinds import AlertKind
from tests.integration.test_alerts import T0, cand, resident_of, station_of
from tests.support import make_home
from web.settings import Settings

pytestmark = pytest.mark.db

LADDER = {
    "steps": [
        {"after_min": 0, "target": "staff", "recipients": ["值班员"]},
        {"after_min": 5, "target": "family", "channels": ["sms"]},
        {"after_min": 15, "target": "manager", "recipients": ["站长"]},
        {"after_min": 30, "target": "emergency", "recipients": ["120"]},
    ],
    "repeat_every_min": 4,
}


def _raise(db: psycopg.Connection, settings: Settings, ladder: object) -> tuple[int, datetime]:
    home = make_home(db, settings)
    st, resident = station_of(db, home.home_id), resident_of(db, home.home_id)
    contacts = [{"name": "女儿", "phone": "13800000001", "consent_notify": True}]
    db.execute("UPDATE resident SET emergency_contacts = %s WHERE id = %s", (json.dumps(contacts), resident))
    escalation.save_policy(db, st, ladder, actor="test")
    ch = store.apply_candidate(db, cand(home.home_id, AlertKind.SOS, T0, resident=resident), station_id=st)
    assert ch is not None
    return ch.alert_id, store.fetch(db, ch.alert_id)["raised_at"]


def _sent(db: psycopg.Connection, alert_id: int) -> list[tuple[int, str, str]]:
    rows = db.execute(
        "SELECT step, target, recipient FROM notification WHERE alert_id = %s ORDER BY id", (alert_id,)
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _run(db: psycopg.Connection, at: datetime) -> None:
    escalation.run_due(db, now=at)  # in the test's transaction: rolled back afterwards


def test_family_ack_is_recorded_but_staff_steps_keep_running(
    db: psycopg.Connection, settings: Settings
) -> None:
    ladder = {"steps": LADDER["steps"]}  # no reminders: only the ladder itself
    alert_id, raised = _raise(db, settings, ladder)
    _run(db, raised + timedelta(seconds=1))
    _run(db, raised + timedelta(minutes=6))
    assert [s[1] for s in _sent(db, alert_id)] == ["staff", "family"]

    row = store.acknowledge(db, alert_id, actor="family:daughter")  # as the API calls it for a relative
    assert row["status"] == "open"  # recorded, not acknowledged
    assert row["acknowledged_at"] is None
    history = [(e["actor"], e["action"]) for e in store.history(db, alert_id)]
    assert ("family:daughter", "family_acknowledged") in history  # shown in the alert's history
    live = db.execute(
        "SELECT count(*) FROM live_event WHERE topic = 'alert' AND subject_id = %s", (str(alert_id),)
    ).fetchone()
    assert live is not None
    assert live[0] >= 2  # raised + the family acknowledgement went out live

    _run(db, raised + timedelta(minutes=16))
    _run(db, raised + timedelta(minutes=31))
    assert _sent(db, alert_id)[2:] == [(2, "manager", "站长"), (3, "emergency", "120")]

    store.acknowledge(db, alert_id, actor="staff:duty")
    assert store.fetch(db, alert_id)["status"] == "acknowledged"
    assert store.fetch(db, alert_id)["escalate_at"] is None


def test_staff_ack_stops_the_ladder_before_the_manager(db: psycopg.Connection, settings: Settings) -> None:
    alert_id, raised = _raise(db, settings, {"steps": LADDER["steps"]})
    _run(db, raised + timedelta(seconds=1))
    store.acknowledge(db, alert_id, actor="staff:duty")
    _run(db, raised + timedelta(minutes=60))
    assert [s[1] for s in _sent(db, alert_id)] == ["staff"]


def test_reminders_repeat_until_staff_acknowledge(db: psycopg.Connection, settings: Settings) -> None:
    alert_id, raised = _raise(db, settings, LADDER)
    _run(db, raised + timedelta(seconds=1))  # step 0: staff
    assert store.fetch(db, alert_id)["escalate_at"] == raised + timedelta(minutes=4, seconds=1)  # a reminder
    _run(db, raised + timedelta(minutes=4, seconds=1))  # reminder 1 of the staff step
    _run(db, raised + timedelta(minutes=5))  # step 1: family (due before the next reminder)
    _run(db, raised + timedelta(minutes=9))  # reminder 2: staff again (family steps are not repeated)
    store.acknowledge(db, alert_id, actor="family:daughter")  # a relative has seen it: reminders go on
    _run(db, raised + timedelta(minutes=13))  # reminder 3
    _run(db, raised + timedelta(minutes=15))  # step 2: manager
    _run(db, raised + timedelta(minutes=19))  # reminder 4: now the manager step, the latest staff-side one
    sent = _sent(db, alert_id)
    assert [(s[0], s[1]) for s in sent] == [
        (0, "staff"),
        (0 + REMINDER_STRIDE * 1, "staff"),
        (1, "family"),
        (0 + REMINDER_STRIDE * 2, "staff"),
        (0 + REMINDER_STRIDE * 3, "staff"),
        (2, "manager"),
        (2 + REMINDER_STRIDE * 4, "manager"),
    ]
    subjects = db.execute(
        "SELECT subject FROM notification WHERE alert_id = %s AND step >= %s", (alert_id, REMINDER_STRIDE)
    ).fetchall()
    assert all(s[0].startswith("【提醒 Reminder") for s in subjects)
    _run(db, raised + timedelta(minutes=19, seconds=30))  # nothing due: no duplicate reminder
    assert len(_sent(db, alert_id)) == len(sent)

    store.acknowledge(db, alert_id, actor="staff:duty")
    _run(db, raised + timedelta(hours=3))
    assert len(_sent(db, alert_id)) == len(sent)  # staff acknowledged: no more steps, no more reminders
    reminded = db.execute(
        "SELECT count(*) FROM alert_event WHERE alert_id = %s AND action = 'reminded'", (alert_id,)
    ).fetchone()
    assert reminded == (4,)


def test_reminders_continue_after_the_ladder_ends(db: psycopg.Connection, settings: Settings) -> None:
    ladder = {"steps": [{"after_min": 0, "target": "staff"}], "repeat_every_min": 10}
    alert_id, raised = _raise(db, settings, ladder)
    for minute in (0, 10, 20, 30):
        _run(db, raised + timedelta(minutes=minute, seconds=1))
    assert [s[0] for s in _sent(db, alert_id)] == [
        0,
        REMINDER_STRIDE,
        2 * REMINDER_STRIDE,
        3 * REMINDER_STRIDE,
    ]
    assert store.fetch(db, alert_id)["escalate_at"] is not None  # still going until someone acknowledges


@pytest.mark.parametrize(
    ("ladder", "field"),
    [
        ({"steps": [{"after_min": 0, "target": "staff"}], "repeat_every_min": 0}, "repeat_every_min"),
        ({"steps": [{"after_min": 0, "target": "staff"}], "repeat_every_min": "x"}, "repeat_every_min"),
        ({"steps": [{"after_min": 0, "target": "staff"}], "repeat_every": 5}, "repeat_every"),
        (
            {"steps": [{"after_min": 0, "target": "staff", "recipients": [f"p{i}" for i in range(21)]}]},
            "recipients",
        ),
    ],
)
def test_ladder_validation_names_the_field(db: psycopg.Connection, ladder: object, field: str) -> None:
    with pytest.raises(PolicyError, match=field):
        escalation.save_policy(db, "*", ladder, actor="test")
    db.rollback()


def test_ladder_round_trips_with_its_interval(db: psycopg.Connection, settings: Settings) -> None:
    home = make_home(db, settings)
    st = station_of(db, home.home_id)
    escalation.save_policy(db, st, LADDER, actor="test")
    assert escalation.policy_for(db, st).repeat_every_min == 4
    escalation.save_policy(db, st, LADDER["steps"], actor="test")  # the plain list form still works
    assert escalation.policy_for(db, st).repeat_every_min is None
    db.rollback()


def test_the_api_records_a_family_ack_and_only_staff_stop_the_ladder(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from web.api.app import create_app
    from web.auth import users
    from web.auth.principal import Role

    tag = uuid.uuid4().hex[:6]
    with psycopg.connect(settings.db().conninfo()) as conn:
        home = make_home(conn, settings)
        st, resident = station_of(conn, home.home_id), resident_of(conn, home.home_id)
        ch = store.apply_candidate(
            conn, cand(home.home_id, AlertKind.FALL, T0, resident=resident), station_id=st
        )
        assert ch is not None
        users.create_user(conn, username=f"fam-{tag}", name="f", role=Role.FAMILY, password="family-password-1",
                          resident_ids=[resident])  # fmt: skip
        users.create_user(conn, username=f"stf-{tag}", name="s", role=Role.STAFF, password="staff-password-1",
                          station_ids=[st])  # fmt: skip
        conn.commit()
    with TestClient(create_app(settings, cookie_secure=False)) as c:

        def bearer(user: str, password: str) -> dict[str, str]:
            r = c.post("/api/auth/login", json={"username": user, "password": password})
            c.cookies.clear()
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        family, staff = bearer(f"fam-{tag}", "family-password-1"), bearer(f"stf-{tag}", "staff-password-1")
        r = c.post(f"/api/alerts/{ch.alert_id}/ack", headers=family)
        assert (r.status_code, r.json()["status"], r.json()["escalate_at"] is not None) == (200, "open", True)
        detail = c.get(f"/api/alerts/{ch.alert_id}", headers=staff).json()
        assert [e["action"] for e in detail["history"]][-1] == "family_acknowledged"  # shown to staff
        assert detail["family_acknowledged_at"] is not None  # and on the board
        r = c.post(f"/api/alerts/{ch.alert_id}/ack", headers=staff)
        assert (r.status_code, r.json()["status"], r.json()["escalate_at"]) == (200, "acknowledged", None)
