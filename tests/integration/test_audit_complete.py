"""The audit log is complete and append-only: reads and action responses that carry personal data write a row
(the live feed one per socket and per replay, not per event); the application role cannot change or remove
rows; caregivers see only today's visits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from dispatcher import service
from dispatcher.records import DEFAULT_TZ
from monitor import live
from tests.integration.scope_world import ScopeWorld, audit_rows, build, last_audit_id, login
from web import stack
from web.api.app import create_app
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.timeout(120)]
Tokens = dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def world(settings: Settings) -> ScopeWorld:
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        w = build(conn, uuid.uuid4().hex[:8])
        service.plan_day(conn, w.a.station_id, datetime.now(DEFAULT_TZ).date(), time_limit_s=1)
        return w


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cookie_secure=False, live_gap_timeout=30)) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(client: TestClient, world: ScopeWorld) -> Tokens:
    return login(client, world)


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as c:
        yield c


def _calls(w: ScopeWorld) -> list[tuple[str, str, str, Any, str, set[str]]]:
    """(role, method, url, body, resource, residents the row must name) for every audited read."""
    a, today = w.a, datetime.now(DEFAULT_TZ).date().isoformat()
    res = {a.resident_id}
    plan = {"recurrence": "daily", "start": "2026-01-01", "kind": "meal", "duration": 30,
            "window": {"start": "17:00", "end": "18:00"}}  # fmt: skip
    return [
        ("staff_a", "GET", f"/api/residents/{a.resident_id}/rule-settings", None,
         f"resident/{a.resident_id}/rule-settings", res),
        ("staff_a", "PUT", f"/api/residents/{a.resident_id}/rule-settings", {"away": True},
         f"resident/{a.resident_id}/rule-settings", res),
        ("staff_a", "GET", f"/api/residents/{a.resident_id}/service-plans", None,
         f"resident/{a.resident_id}/service-plans", res),
        ("staff_a", "PUT", f"/api/residents/{a.resident_id}/service-plans/sp-dinner-{w.tag}", plan,
         f"resident/{a.resident_id}/service-plans/sp-dinner-{w.tag}", res),
        ("staff_a", "GET", f"/api/stations/{a.station_id}/plan?day={today}", None,
         f"station/{a.station_id}/plan/{today}", res),
        ("staff_a", "GET", f"/api/stations/{a.station_id}/tasks?day={today}", None,
         f"station/{a.station_id}/tasks/{today}", res),
        ("staff_a", "GET", f"/api/map/routes?day={today}", None, f"map/routes/{today}", set()),
        ("staff_a", "GET", f"/api/stations/{a.station_id}/caregivers", None,
         f"station/{a.station_id}/caregivers", set()),
        ("staff_a", "GET", f"/api/devices?home_id={a.home_id}", None, "devices", res),
        ("staff_a", "GET", f"/api/devices/{a.device_id}", None, f"device/{a.device_id}", res),
        ("staff_a", "GET", f"/api/device-health?home_id={a.home_id}", None, "device-health", res),
        ("staff_a", "POST", "/api/devices", {"id": f"wdn-{w.tag}", "home_id": a.home_id, "kind": "door"},
         f"device/wdn-{w.tag}", res),
        ("family_a", "POST", f"/api/alerts/{a.alert_id}/ack", None, f"alert/{a.alert_id}", res),
        ("staff_a", "POST", f"/api/alerts/{a.alert_id}/ack", None, f"alert/{a.alert_id}", res),
        ("staff_a", "POST", f"/api/alerts/{a.alert_id}/notes", {"note": "已电话联系家属"}, f"alert/{a.alert_id}", res),
        ("staff_a", "POST", f"/api/alerts/{a.alert_id}/assign", {"caregiver_id": a.caregiver_id, "urgent_task": False},
         f"alert/{a.alert_id}", res),
        ("staff_a", "POST", f"/api/alerts/{a.alert_id}/resolve", {"outcome": "false_alarm"},
         f"alert/{a.alert_id}", res),
    ]  # fmt: skip


def test_each_read_of_personal_data_writes_a_row(
    client: TestClient, world: ScopeWorld, tokens: Tokens, conn: psycopg.Connection[Any]
) -> None:
    missing = []
    for role, method, url, body, resource, residents in _calls(world):
        since = last_audit_id(conn)
        r = client.request(method, url, headers=tokens[role], json=body)
        assert r.status_code < 300, (method, url, r.status_code, r.text)
        rows = audit_rows(conn, world.logins[role], since)
        if not any(row["resource"] == resource and residents <= set(row["resident_ids"]) for row in rows):
            missing.append(f"{method} {url}: {rows}")
    assert not missing, "\n".join(missing)


def test_caregivers_see_only_todays_visits(
    client: TestClient, world: ScopeWorld, tokens: Tokens, conn: psycopg.Connection[Any]
) -> None:
    a, headers = world.a, tokens["caregiver_a"]
    now = datetime.now(DEFAULT_TZ)
    conn.execute(  # she checked in on A's task today (it is in no plan of hers): it stays on her phone
        "INSERT INTO visit_action (client_action_id, task_id, caregiver_id, action, at) VALUES (%s, %s, %s,"
        " 'check-in', now())",
        (f"ci-{world.tag}", a.task_id, a.caregiver_id),
    )
    for day in (None, now.date()):
        since = last_audit_id(conn)
        r = client.get(
            "/api/my/visits", headers=headers, params={} if day is None else {"day": day.isoformat()}
        )
        assert r.status_code == 200, r.text
        visit = {v["task_id"]: v for v in r.json()}[str(a.task_id)]
        assert (visit["resident_id"], visit["access_notes"]) == (a.resident_id, "门锁密码 1234")
        assert [row["resident_ids"] for row in audit_rows(conn, world.logins["caregiver_a"], since)] == [
            [a.resident_id]
        ]
    for day in (
        now.date() - timedelta(days=1),
        now.date() + timedelta(days=1),
        now.date() - timedelta(days=400),
    ):
        r = client.get("/api/my/visits", headers=headers, params={"day": day.isoformat()})
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "not_today"
        assert "门锁" not in r.text
        assert a.resident_id not in r.text
    spec = client.app.openapi()["paths"]["/api/my/visits"]["get"]  # type: ignore[attr-defined]
    assert "not_today" in spec["description"]


def _until_live(ws: Any) -> list[dict[str, Any]]:
    out = []
    while (msg := ws.receive_json())["type"] != "live":
        out.append(msg)
    return out


def test_live_feed_writes_one_row_per_socket_and_per_replay(
    client: TestClient, world: ScopeWorld, tokens: Tokens, conn: psycopg.Connection[Any], settings: Settings
) -> None:
    a = world.a
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as pub:
        first = live.publish(pub, topic="alert", subject_id="w0", station_id=a.station_id, home_id=a.home_id)
        since = last_audit_id(conn)
        with client.websocket_connect("/ws/live", headers=tokens["staff_a"]) as ws:
            assert [ws.receive_json()["type"] for _ in range(2)] == ["hello", "live"]
            for i in range(3):
                live.publish(
                    pub, topic="alert", subject_id=f"w{i + 1}", station_id=a.station_id, home_id=a.home_id
                )
                assert ws.receive_json()["subject_id"] == f"w{i + 1}"
        rows = audit_rows(conn, world.logins["staff_a"], since)
        assert [(r["action"], r["resource"]) for r in rows] == [
            ("subscribe", f"ws/live stations:{a.station_id}")
        ]

        since = last_audit_id(conn)
        with client.websocket_connect(f"/ws/live?after={first - 1}", headers=tokens["family_a"]) as ws:
            assert ws.receive_json()["type"] == "hello"
            replayed = _until_live(ws)
            assert [e["subject_id"] for e in replayed] == ["w0", "w1", "w2", "w3"]
        rows = audit_rows(conn, world.logins["family_a"], since)
        assert [(r["action"], r["resource"], r["resident_ids"]) for r in rows] == [
            ("subscribe", f"ws/live homes:{a.home_id}", [a.resident_id]),
            ("replay", f"ws/live homes:{a.home_id}", [a.resident_id]),
        ]
        assert rows[1]["reason"] == f"live feed replay after {first - 1}"


def _refused(conn: psycopg.Connection[Any], statement: str) -> str:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(statement)
    conn.rollback()
    return str(info.value)


def test_the_application_role_cannot_change_or_remove_audit_rows(settings: Settings) -> None:
    """Connected like the API (the application role, which owns the database): only INSERT and SELECT."""
    with psycopg.connect(settings.db().conninfo()) as app:
        row = app.execute(
            "INSERT INTO audit.audit_log (username, role, action, resource, reason) "
            "VALUES ('probe', 'admin', 'read', 'probe', 'append-only test') RETURNING id"
        ).fetchone()
        assert row is not None
        app.commit()
        probe = row[0]
        for statement in (
            f"UPDATE audit.audit_log SET reason = 'nothing happened' WHERE id = {probe}",
            f"DELETE FROM audit.audit_log WHERE id = {probe}",
            "TRUNCATE audit.audit_log",
            f"UPDATE audit_log SET reason = 'nothing happened' WHERE id = {probe}",  # the view in public
            f"DELETE FROM audit_log WHERE id = {probe}",
            "ALTER TABLE audit.audit_log DISABLE TRIGGER audit_log_append_only",
            "DROP TRIGGER audit_log_append_only ON audit.audit_log",
            "DROP FUNCTION audit.refuse_change() CASCADE",
            "DROP TABLE audit.audit_log",
            "DROP SCHEMA audit CASCADE",
            "GRANT eldercare_audit TO CURRENT_USER",
            "SET ROLE eldercare_audit",
            "ALTER TABLE audit.audit_log OWNER TO CURRENT_USER",
        ):
            message = _refused(app, statement)
            assert "denied" in message or "must be owner" in message or "admin option" in message, (
                statement,
                message,
            )
        app.execute("GRANT UPDATE, DELETE ON audit.audit_log TO CURRENT_USER")  # a no-op: only warns
        kept = app.execute("SELECT reason FROM audit.audit_log WHERE id = %s", (probe,)).fetchone()
        assert kept == ("append-only test",)
        for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
            granted = app.execute(
                "SELECT has_table_privilege('audit.audit_log', %s)", (privilege,)
            ).fetchone()
            assert granted == (False,), privilege
        app.rollback()
    assert settings.db_admin_url is not None
    # Even a superuser's slip is caught by the trigger.
    with psycopg.connect(settings.db_admin_url.get_secret_value()) as admin:
        assert "append-only" in _refused(admin, f"DELETE FROM audit.audit_log WHERE id = {probe}")
        assert "append-only" in _refused(admin, f"UPDATE audit.audit_log SET reason = '' WHERE id = {probe}")


def test_stack_up_again_does_not_give_the_audit_owner_back(stack_dir: Path, settings: Settings) -> None:
    """``stack up`` grants the owner role only until migration 0006 has run; afterwards never again."""
    stack.up(stack_dir)
    with psycopg.connect(settings.db().conninfo()) as app:
        member = app.execute("SELECT pg_has_role(current_user, 'eldercare_audit', 'MEMBER')").fetchone()
        owner = app.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'audit'").fetchall()
    assert member == (False,)
    assert owner == [("eldercare_audit",)]
