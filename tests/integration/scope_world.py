"""Two stations with a row of every kind each (and users of every role), for the write and audit matrices."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from devices import registry
from devices.types import DeviceKind, Room
from dispatcher.generate import add_service_plan
from dispatcher.records import DEFAULT_TZ, CaregiverSpec, upsert_caregiver
from web.auth import users
from web.auth.principal import Role

PASSWORD = "correct-horse-battery"


@dataclass
class Side:
    """One station's rows: every id a path parameter can name."""

    station_id: str
    home_id: str
    resident_id: str
    device_id: str
    caregiver_id: str
    plan_id: str
    alert_id: int = 0
    task_id: int = 0


@dataclass
class ScopeWorld:
    tag: str
    a: Side
    b: Side
    logins: dict[str, str] = field(default_factory=dict)  # role label -> username
    user_ids: dict[str, int] = field(default_factory=dict)


def _side(conn: psycopg.Connection[Any], tag: str, key: str, lat: float) -> Side:
    s = Side(station_id=f"ws{key}-{tag}", home_id=f"wh{key}-{tag}", resident_id=f"wr{key}-{tag}",
             device_id=f"wd{key}-{tag}", caregiver_id=f"wc{key}-{tag}", plan_id=f"sp-wr{key}-{tag}-lunch")  # fmt: skip
    registry.add_station(conn, id=s.station_id, name=f"{key}站", lat=lat, lon=106.6)
    registry.add_home(conn, id=s.home_id, station_id=s.station_id, address=f"{key}路1号", lat=lat, lon=106.6,
                      access_notes="门锁密码 1234")  # fmt: skip
    registry.add_resident(conn, id=s.resident_id, home_id=s.home_id, name=f"{key}阿姨", birth_year=1940, sex="F",
                          care_notes="糖尿病")  # fmt: skip
    registry.add_device(conn, id=s.device_id, home_id=s.home_id, kind=DeviceKind.MOTION, room=Room.BATHROOM)
    upsert_caregiver(conn, CaregiverSpec(id=s.caregiver_id, station_id=s.station_id, name=f"{key}护理",
                                         sex="female"))  # fmt: skip
    add_service_plan(conn, s.plan_id, s.resident_id, {
        "recurrence": "daily", "start": "2026-01-01", "kind": "meal", "duration": 30,
        "window": {"start": "11:00", "end": "12:30"},
    })  # fmt: skip
    now = datetime.now(DEFAULT_TZ)
    row = conn.execute(
        "INSERT INTO alert (home_id, resident_id, station_id, kind, severity, started_at, detected_at, "
        "last_evidence_at, evidence, reason_zh, reason_en) VALUES (%s, %s, %s, 'sos', 'critical', now(), now(), "
        "now(), %s, '紧急呼叫', 'SOS pressed') RETURNING id",
        (s.home_id, s.resident_id, s.station_id, Jsonb({"button": "pendant"})),
    ).fetchone()
    assert row is not None
    s.alert_id = row[0]
    row = conn.execute(
        "INSERT INTO task (station_id, home_id, day, kind, duration_min, window_start, window_end, source,"
        " source_id, status) VALUES (%s, %s, %s, 'visit', 30, %s, %s, 'booking', %s, 'planned') RETURNING id",
        (
            s.station_id,
            s.home_id,
            now.date(),
            now - timedelta(hours=1),
            now + timedelta(hours=3),
            f"w-{tag}-{key}",
        ),
    ).fetchone()
    assert row is not None
    s.task_id = row[0]
    conn.execute(
        "INSERT INTO resident_rule_settings (resident_id, settings, updated_by) VALUES (%s, %s, 'test')",
        (s.resident_id, Jsonb({"sensitivity": 1.5, "hospital": True})),
    )
    return s


def build(conn: psycopg.Connection[Any], tag: str) -> ScopeWorld:
    """Stations A and B with one row of each kind; users: admin, staff of A and of B, A's family and caregiver."""
    w = ScopeWorld(tag=tag, a=_side(conn, tag, "a", 29.70), b=_side(conn, tag, "b", 29.80))
    specs: dict[str, tuple[Role, list[str], list[str], str | None]] = {
        "admin": (Role.ADMIN, [], [], None),
        "staff_a": (Role.STAFF, [w.a.station_id], [], None),
        "staff_b": (Role.STAFF, [w.b.station_id], [], None),
        "family_a": (Role.FAMILY, [], [w.a.resident_id], None),
        "caregiver_a": (Role.CAREGIVER, [w.a.station_id], [], w.a.caregiver_id),
    }
    for label, (role, stations, residents, caregiver) in specs.items():
        username = f"w{label}-{tag}"
        p = users.create_user(conn, username=username, name=label, role=role, password=PASSWORD,
                              station_ids=stations, resident_ids=residents, caregiver_id=caregiver)  # fmt: skip
        w.logins[label] = username
        w.user_ids[label] = p.id
    return w


def login(client: TestClient, world: ScopeWorld) -> dict[str, dict[str, str]]:
    """Bearer headers per role label (cookies cleared, so every request says who it is)."""
    out = {}
    for label, username in world.logins.items():
        r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        out[label] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    client.cookies.clear()
    return out


def audit_rows(conn: psycopg.Connection[Any], username: str, after_id: int) -> list[dict[str, Any]]:
    """Audit rows of one user written after ``after_id``, oldest first."""
    rows = conn.execute(
        "SELECT id, action, resource, resident_ids, reason FROM audit.audit_log WHERE username = %s AND id > %s"
        " ORDER BY id",
        (username, after_id),
    ).fetchall()
    return [dict(zip(("id", "action", "resource", "resident_ids", "reason"), r, strict=True)) for r in rows]


def last_audit_id(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(id), 0) FROM audit.audit_log").fetchone()
    assert row is not None
    return int(row[0])
