"""Dispatch with the real stack: plan a station-day from service plans, urgent tasks re-planned by the planner
process, the caregiver's visits with idempotent check-in/out, scope following the plan, alert assignment."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from devices import registry
from dispatcher import plan_store
from dispatcher.records import DEFAULT_TZ, CaregiverSpec, ShiftSpec, upsert_caregiver
from dispatcher.service import create_urgent_task, plan_day, replan_for_task
from monitor.alerts import store
from monitor.rules.candidate import AlertCandidate
from monitor.rules.kinds import AlertKind, Severity
from tests.support import CliProcess, around, count, skip_near_local_midnight, wait_until
from web.api.app import create_app
from web.auth import users
from web.auth.principal import Role
from web.settings import Settings

pytestmark = pytest.mark.db
PASSWORD = "correct-horse-battery"


@dataclass
class Station:
    id: str
    homes: list[str]
    residents: list[str]
    carers: list[str]  # [female with bathing, male without skills]
    far_home: str  # a home of the station nobody plans a visit to


def today() -> datetime:
    return datetime.now(DEFAULT_TZ)


def build(conn: psycopg.Connection, *, plans: bool = True) -> Station:
    tag = uuid.uuid4().hex[:8]
    st = Station(
        id=f"ds-{tag}", homes=[], residents=[], carers=[f"cf-{tag}", f"cm-{tag}"], far_home=f"hx-{tag}"
    )
    registry.add_station(conn, id=st.id, name="派单站", lat=29.70, lon=106.60)
    for i in range(4):
        home, res = f"h{i}-{tag}", f"r{i}-{tag}"
        registry.add_home(conn, id=home, station_id=st.id, address=f"派单路{i}号", lat=29.70 + 0.002 * i,
                          lon=106.60 + 0.001 * i, access_notes=f"门禁{i}")  # fmt: skip
        registry.add_resident(conn, id=res, home_id=home, name=f"老人{i}", birth_year=1940, sex="F")
        st.homes.append(home)
        st.residents.append(res)
    registry.add_home(conn, id=st.far_home, station_id=st.id, address="远路9号", lat=29.705, lon=106.605)
    registry.add_resident(
        conn, id=f"rx-{tag}", home_id=st.far_home, name="远方老人", birth_year=1939, sex="M"
    )
    shift = [ShiftSpec(**around(3, 3.5))]
    upsert_caregiver(conn, CaregiverSpec(id=st.carers[0], station_id=st.id, name="王护理", sex="female",
                                         skills=["bathing"], shifts=shift))  # fmt: skip
    upsert_caregiver(conn, CaregiverSpec(id=st.carers[1], station_id=st.id, name="李护理", sex="male",
                                         travel_mode="ebike", shifts=shift))  # fmt: skip
    if plans:
        from dispatcher.generate import add_service_plan

        day = today().date().isoformat()
        for i, res in enumerate(st.residents[:3]):
            add_service_plan(conn, f"meal-{res}", res, {
                "recurrence": "daily", "start": day, "kind": "meal", "duration": 20,
                "window": around(2 - i % 2, 1 + i % 2)})  # fmt: skip
        add_service_plan(conn, f"bath-{tag}", st.residents[3], {
            "recurrence": "daily", "start": day, "kind": "bathing", "duration": 45, "skills": ["bathing"],
            "same_sex": True, "window": around(2.5, 0.5)})  # fmt: skip
        add_service_plan(conn, f"escort-{tag}", st.residents[0], {
            "recurrence": "daily", "start": day, "kind": "escort", "duration": 60, "skills": ["driving"],
            "window": around(1, 2)})  # fmt: skip
    return st


def alert_for(conn: psycopg.Connection, home_id: str, station_id: str) -> int:
    at = today()
    out = store.apply_candidate(conn, AlertCandidate(
        home_id=home_id, resident_id=None, kind=AlertKind.FALL, severity=Severity.CRITICAL,
        started_at=at, detected_at=at, evidence={}, reason_zh="跌倒", reason_en="fall"), station_id=station_id)  # fmt: skip
    assert out is not None
    return out.alert_id


def test_plan_day_generates_tasks_solves_and_keeps_versions(db: psycopg.Connection) -> None:
    skip_near_local_midnight()  # the windows around now are clipped to the day: a 45-min bath cannot fit at 00:20
    st = build(db)
    db.commit()
    day = today().date()
    steps: list[str] = []
    first = plan_day(db, st.id, day, time_limit_s=2, progress=steps.append)
    assert first.version == 1
    assert any("solving 5 tasks for 2 caregivers" in s for s in steps), steps
    routes = {r.caregiver_id: [v.task_id for v in r.visits] for r in first.plan.routes}
    planned = sorted(t for ts in routes.values() for t in ts)
    assert len(planned) == 4  # three meals and the bath
    bath = db.execute("SELECT id FROM task WHERE source_id = %s", (f"bath-{st.id[3:]}",)).fetchone()
    assert bath is not None
    assert str(bath[0]) in routes[st.carers[0]]  # only she has the skill (and the resident is a woman)
    (left,) = first.plan.unassigned
    assert left.code == "missing_skill"  # nobody drives: the escort is reported, not dropped silently
    stored = db.execute(
        "SELECT task_id::text, caregiver_id FROM visit WHERE plan_id = %s ORDER BY task_id", (first.id,)
    ).fetchall()
    assert sorted(t for t, _ in stored) == planned
    statuses: dict[str, int] = dict(
        db.execute("SELECT status, count(*) FROM task WHERE station_id = %s GROUP BY 1", (st.id,))
    )
    assert statuses == {"planned": 4, "pending": 1}
    # planning the day again generates nothing new and stores the next version
    second = plan_day(db, st.id, day, time_limit_s=1)
    assert second.version == 2
    assert count(db, "SELECT count(*) FROM task WHERE station_id = %s", st.id) == 5
    assert plan_store.current(db, st.id, day).version == 2  # type: ignore[union-attr]
    events = db.execute(
        "SELECT body->>'version' FROM live_event WHERE topic = 'plan' AND station_id = %s ORDER BY id",
        (st.id,),
    ).fetchall()
    assert [e[0] for e in events] == ["1", "2"]


def test_planner_places_urgent_tasks_missed_while_down_and_new_ones_live(
    db: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    skip_near_local_midnight()
    st = build(db)
    db.commit()
    plan_day(db, st.id, today().date(), time_limit_s=1)
    early = create_urgent_task(db, home_id=st.homes[1], alert_id=alert_for(db, st.homes[1], st.id), now=today(),
                               caregiver_id=st.carers[1])  # fmt: skip
    db.commit()
    planner = CliProcess(
        ["planner", "--dir", str(settings.stack_dir), "--metrics-port", "0"],
        tmp_path / "planner.log",
        "planner ready",
    )
    try:
        assert f"re-planned task_id={early}" in planner.log()  # caught up at start

        def where(task_id: int) -> list[tuple[str, str]]:
            rows = db.execute(
                "SELECT v.caregiver_id, p.reason FROM visit v JOIN plan p ON p.id = v.plan_id"
                " WHERE v.task_id = %s AND p.version = (SELECT max(version) FROM plan q"
                " WHERE q.station_id = p.station_id AND q.day = p.day)",
                (task_id,),
            ).fetchall()
            db.commit()
            return [(r[0], r[1]) for r in rows]

        assert where(early) == [(st.carers[1], f"replan:{early}")]  # the caregiver staff chose
        late = create_urgent_task(db, home_id=st.homes[2], alert_id=alert_for(db, st.homes[2], st.id),
                                  now=today(), caregiver_id=None)  # fmt: skip
        db.commit()
        assert wait_until(lambda: bool(where(late)), 30), planner.log()
        assert where(early) == [(st.carers[1], f"replan:{late}")]  # still in the newer version
        plan = plan_store.current(db, st.id, today().date())
        assert plan is not None
        assert plan.version == 3
        diff = db.execute("SELECT diff FROM plan WHERE station_id = %s AND version = 3", (st.id,)).fetchone()
        assert diff is not None
        assert diff[0]["urgent_task_id"] == str(late)
        assert count(db, "SELECT count(*) FROM task WHERE id = %s AND status = 'planned'", late) == 1
        port = re.search(r"http://127.0.0.1:(\d+)/metrics", planner.log())
        assert port is not None
        base = f"http://127.0.0.1:{port.group(1)}"
        assert httpx.get(base + "/readyz").status_code == 200
        scraped = httpx.get(base + "/metrics").text
        placed = re.search(r'eldercare_planner_replans_total\{outcome="placed"\} (\d+)', scraped)
        assert placed is not None
        assert float(placed.group(1)) >= 2
        assert "eldercare_planner_replan_seconds_count" in scraped
    finally:
        assert planner.stop() == 0
    assert "planner stopped" in planner.log()


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cookie_secure=False)) as c:
        yield c


def _login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_caregiver_visits_check_in_out_once_and_scope_follows_the_plan(
    db: psycopg.Connection, client: TestClient
) -> None:
    st = build(db)
    tag = st.id[3:]
    users.create_user(db, username=f"cg-{tag}", name="王护理", role=Role.CAREGIVER, password=PASSWORD,
                      station_ids=[st.id], caregiver_id=st.carers[0])  # fmt: skip
    users.create_user(db, username=f"staff-{tag}", name="站长", role=Role.STAFF, password=PASSWORD,
                      station_ids=[st.id])  # fmt: skip
    db.commit()
    cg, staff = _login(client, f"cg-{tag}"), _login(client, f"staff-{tag}")
    assert client.get("/api/residents", headers=cg).json() == []  # no plan yet: no homes in scope
    assert client.get("/api/my/visits", headers=staff).status_code == 403
    r = client.post(f"/api/stations/{st.id}/plan", headers=staff, json={"day": today().date().isoformat(),
                                                                       "time_limit_s": 1})  # fmt: skip
    assert r.status_code == 202, r.text  # a background job: poll it
    job = f"/api/stations/{st.id}/plan/jobs/{r.json()['id']}"
    assert wait_until(lambda: client.get(job, headers=staff).json()["state"] == "done", 30)
    assert client.get(job, headers=staff).json()["version"] == 1
    assert client.get(f"/api/stations/{st.id}/plan", headers=staff).json()["version"] == 1
    assert (
        client.post(f"/api/stations/{st.id}/plan", headers=staff, json={"day": "tomorrow"}).status_code == 422
    )

    visits = client.get("/api/my/visits", headers=cg).json()
    assert visits, "the planner gave her visits"
    assert [v["planned_start"] for v in visits] == sorted(v["planned_start"] for v in visits)
    assert all(v["resident_name"] and v["address"] and v["access_notes"].startswith("门禁") for v in visits)
    visible = {r["home_id"] for r in client.get("/api/residents", headers=cg).json()}
    assert visible == {v["home_id"] for v in visits}  # the homes of her visits today, no others
    assert st.far_home not in visible
    audited = db.execute(
        "SELECT count(*) FROM audit_log WHERE resource = 'visits' AND username = %s", (f"cg-{tag}",)
    ).fetchone()
    assert audited is not None
    assert audited[0] >= 1

    first = visits[0]["task_id"]
    path = f"/api/my/visits/{first}"
    body = {"client_action_id": "act-" + uuid.uuid4().hex, "lat": 29.7, "lon": 106.6}
    r1 = client.post(f"{path}/check-in", headers=cg, json=body)
    assert r1.status_code == 200, r1.text
    assert (r1.json()["status"], r1.json()["replay"]) == ("started", False)
    again = client.post(f"{path}/check-in", headers=cg, json=body)  # the offline queue resends it
    assert (again.status_code, again.json()["replay"]) == (200, True)
    assert count(db, "SELECT count(*) FROM visit_action WHERE task_id = %s", int(first)) == 1
    twice = client.post(f"{path}/check-in", headers=cg, json={"client_action_id": "act-" + uuid.uuid4().hex})
    assert twice.status_code == 409
    reused = client.post(f"{path}/check-out", headers=cg, json=body)
    assert reused.status_code == 409
    second = visits[1]["task_id"] if len(visits) > 1 else None
    if second is not None:
        early_out = client.post(f"/api/my/visits/{second}/check-out", headers=cg,
                                json={"client_action_id": "act-" + uuid.uuid4().hex})  # fmt: skip
        assert early_out.status_code == 409
    future = (today() + timedelta(hours=1)).isoformat()
    bad = client.post(f"{path}/check-out", headers=cg, json={"client_action_id": "act-" + uuid.uuid4().hex,
                                                             "at": future})  # fmt: skip
    assert bad.status_code == 422
    done = client.post(f"{path}/check-out", headers=cg, json={
        "client_action_id": "act-" + uuid.uuid4().hex, "notes": "老人状态良好", "problem": True})  # fmt: skip
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    lines = {r["caregiver_id"]: r for r in client.get("/api/map/routes", headers=staff).json()}
    mine = lines[st.carers[0]]
    assert mine["points"][0] == mine["points"][-1] == [29.70, 106.60]  # from the station and back
    assert len(mine["points"]) == len(visits) + 2
    assert mine["at"] == [
        visits[0]["lat"],
        visits[0]["lon"],
    ]  # checked out there (the phone sent no position)
    assert client.get("/api/map/routes", headers=cg).status_code == 403
    row = db.execute(
        "SELECT status, notes, problem, done_by FROM task WHERE id = %s", (int(first),)
    ).fetchone()
    assert row == ("done", "老人状态良好", True, st.carers[0])
    assert client.post("/api/my/visits/999999999/check-in", headers=cg,
                       json={"client_action_id": "act-" + uuid.uuid4().hex}).status_code == 404  # fmt: skip
    assert client.post(f"{path}/check-in", headers=cg, json={"client_action_id": "x"}).status_code == 422
    event = db.execute(
        "SELECT body FROM live_event WHERE topic = 'task' AND subject_id = %s ORDER BY id DESC LIMIT 1",
        (first,),
    ).fetchone()
    assert event is not None
    assert json.loads(json.dumps(event[0]))["status"] == "done"


def test_staff_assign_an_alert_creates_one_urgent_task_and_suggests_the_nearest(
    db: psycopg.Connection, client: TestClient
) -> None:
    skip_near_local_midnight()
    st = build(db, plans=False)
    tag = st.id[3:]
    users.create_user(db, username=f"st2-{tag}", name="站长", role=Role.STAFF, password=PASSWORD,
                      station_ids=[st.id])  # fmt: skip
    alert_id = alert_for(db, st.homes[3], st.id)
    db.commit()
    staff = _login(client, f"st2-{tag}")
    found = client.get(f"/api/alerts/{alert_id}/suggestions", headers=staff)
    assert found.status_code == 200, found.text
    names = [s["caregiver_id"] for s in found.json()]
    assert set(names) == set(st.carers)
    assert names[0] == st.carers[1]  # on an e-bike she is not, he is: he gets there first
    assert [s["eta_min"] for s in found.json()] == sorted(s["eta_min"] for s in found.json())
    r = client.post(f"/api/alerts/{alert_id}/assign", headers=staff, json={"caregiver_id": st.carers[0]})
    assert r.status_code == 200, r.text
    task_id = r.json()["task_id"]
    assert task_id is not None
    again = client.post(f"/api/alerts/{alert_id}/assign", headers=staff, json={"caregiver_id": st.carers[1]})
    assert again.status_code in (200, 409), again.text
    row = db.execute(
        "SELECT count(*), max(preferred_caregiver), bool_and(urgent) FROM task WHERE alert_id = %s",
        (alert_id,),
    ).fetchone()
    assert row is not None
    assert row[0] == 1  # one task per alert, whoever is sent
    assert row[2] is True
    bad = client.post(f"/api/alerts/{alert_id}/assign", headers=staff, json={"caregiver_id": "nobody"})
    assert bad.status_code == 404


def test_bookings_caregivers_and_service_plans_through_the_api(
    db: psycopg.Connection, client: TestClient
) -> None:
    st = build(db, plans=False)
    other = build(db, plans=False)
    tag = st.id[3:]
    users.create_user(db, username=f"fam-{tag}", name="女儿", role=Role.FAMILY, password=PASSWORD,
                      resident_ids=[st.residents[0]])  # fmt: skip
    users.create_user(db, username=f"st3-{tag}", name="站长", role=Role.STAFF, password=PASSWORD,
                      station_ids=[st.id])  # fmt: skip
    db.commit()
    family, staff = _login(client, f"fam-{tag}"), _login(client, f"st3-{tag}")
    day = (today() + timedelta(days=1)).date().isoformat()
    booking = {"resident_id": st.residents[0], "day": day, "kind": "escort", "duration": 60,
               "window": {"start": "09:00", "end": "11:00"}, "notes": "去医院复查"}  # fmt: skip
    r = client.post("/api/bookings", headers=family, json=booking)
    assert r.status_code == 201, r.text
    task_id = r.json()["task_id"]
    assert (
        client.post("/api/bookings", headers=family, json=booking).json()["task_id"] == task_id
    )  # no double
    assert (
        client.post(
            "/api/bookings", headers=family, json={**booking, "resident_id": st.residents[1]}
        ).status_code
        == 404
    )
    assert client.post("/api/bookings", headers=family, json={**booking, "duration": 180}).status_code == 422
    assert (
        client.post("/api/bookings", headers=family, json={**booking, "kind": "emergency"}).status_code == 422
    )
    assert client.post("/api/bookings", headers=family, json={**booking, "day": "soon"}).status_code == 422
    mine = client.get(f"/api/residents/{st.residents[0]}/tasks", headers=family).json()
    assert [(t["id"], t["source"], t["status"]) for t in mine] == [(task_id, "booking", "pending")]
    tasks = client.get(f"/api/stations/{st.id}/tasks", headers=staff, params={"day": day}).json()
    assert [t["id"] for t in tasks] == [task_id]
    assert (
        client.get(f"/api/stations/{other.id}/tasks", headers=staff, params={"day": day}).status_code == 404
    )

    carers = client.get(f"/api/stations/{st.id}/caregivers", headers=staff).json()
    assert {c["id"] for c in carers} == set(st.carers)
    new = {"id": f"cn-{tag}", "station_id": st.id, "name": "新护理员", "sex": "female", "skills": ["escort"],
           "shifts": [{"start": "08:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]}  # fmt: skip
    assert client.put(f"/api/caregivers/{new['id']}", headers=staff, json=new).status_code == 200
    assert client.put(f"/api/caregivers/{new['id']}", headers=staff,
                      json={**new, "station_id": other.id}).status_code == 404  # fmt: skip
    assert client.put(f"/api/caregivers/{new['id']}", headers=staff,
                      json={**new, "shifts": [{"start": "8am", "end": "noon"}]}).status_code == 422  # fmt: skip
    assert client.put(f"/api/caregivers/{new['id']}", headers=family, json=new).status_code == 403
    plan = {"recurrence": "weekly", "weekdays": [1], "start": day, "kind": "bathing", "duration": 45,
            "skills": ["bathing"], "carers": 2, "window": {"start": "09:00", "end": "11:00"}}  # fmt: skip
    path = f"/api/residents/{st.residents[1]}/service-plans"
    assert client.put(f"{path}/bath-{tag}", headers=staff, json=plan).status_code == 200
    assert client.put(f"{path}/bad-{tag}", headers=staff, json={**plan, "weekdays": []}).status_code == 422
    assert [p["id"] for p in client.get(path, headers=staff).json()] == [f"bath-{tag}"]
    # the booking is planned with the day: the new escort-skilled caregiver takes it
    stored = plan_day(db, st.id, date.fromisoformat(day), time_limit_s=1)
    route = stored.plan.route_of(f"cn-{tag}")
    assert route is not None
    assert str(task_id) in [v.task_id for v in route.visits]


def test_kpis_count_response_times_and_visits_per_station(db: psycopg.Connection, client: TestClient) -> None:
    skip_near_local_midnight()
    st = build(db)
    tag = st.id[3:]
    users.create_user(db, username=f"st4-{tag}", name="站长", role=Role.STAFF, password=PASSWORD,
                      station_ids=[st.id])  # fmt: skip
    alert_id = alert_for(db, st.homes[0], st.id)
    db.commit()
    staff = _login(client, f"st4-{tag}")
    plan_day(db, st.id, today().date(), time_limit_s=1)
    assert client.post(f"/api/alerts/{alert_id}/ack", headers=staff).status_code == 200
    assert client.post(f"/api/alerts/{alert_id}/resolve", headers=staff,
                       json={"outcome": "false_alarm"}).status_code == 200  # fmt: skip
    day = today().date().isoformat()
    r = client.get("/api/reports/kpis", headers=staff, params={"from": day, "to": day})
    assert r.status_code == 200, r.text
    (mine,) = r.json()  # only the station in scope
    assert mine["station_id"] == st.id
    assert (mine["alerts"], mine["alerts_resolved"], mine["false_alarms"]) == (1, 1, 1)
    assert mine["ack_min_p50"] is not None
    assert mine["ack_min_p50"] >= 0
    assert (mine["visits_planned"], mine["visits_done"], mine["visits_done_share"]) == (4, 0, 0.0)
    csv_text = client.get(
        "/api/reports/kpis", headers=staff, params={"from": day, "to": day, "format": "csv"}
    ).text
    header, row = csv_text.strip().splitlines()
    assert header.startswith("station_id,alerts,")
    assert row.startswith(f"{st.id},1,1,")
    assert (
        client.get("/api/reports/kpis", headers=staff, params={"from": day, "to": "2020-01-01"}).status_code
        == 422
    )


def test_an_urgent_job_declined_on_the_phone_goes_to_someone_else(
    db: psycopg.Connection, client: TestClient
) -> None:
    skip_near_local_midnight()
    st = build(db)
    tag = st.id[3:]
    for cg in st.carers:
        users.create_user(db, username=f"u-{cg}", name=cg, role=Role.CAREGIVER, password=PASSWORD,
                          station_ids=[st.id], caregiver_id=cg)  # fmt: skip
    db.commit()
    plan_day(db, st.id, today().date(), time_limit_s=1)
    she, he = (_login(client, f"u-{cg}") for cg in st.carers)
    job = create_urgent_task(db, home_id=st.homes[0], alert_id=alert_for(db, st.homes[0], st.id), now=today(),
                             caregiver_id=st.carers[1])  # fmt: skip
    db.commit()
    assert replan_for_task(db, job, today(), time_limit_s=1) is not None

    def mine(headers: dict[str, str]) -> dict[str, dict[str, object]]:
        return {v["task_id"]: v for v in client.get("/api/my/visits", headers=headers).json()}

    got = mine(he)[str(job)]
    assert (got["urgent"], got["accepted"], got["status"]) == (True, False, "planned")
    routine = next(t for t, v in mine(he).items() if not v["urgent"]) if len(mine(he)) > 1 else None
    if routine is not None:
        no = client.post(
            f"/api/my/visits/{routine}/decline", headers=he, json={"client_action_id": uuid.uuid4().hex}
        )
        assert no.status_code == 409  # only urgent jobs are accepted or declined
    r = client.post(f"/api/my/visits/{job}/decline", headers=he, json={"client_action_id": uuid.uuid4().hex})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    row = db.execute("SELECT declined_by, preferred_caregiver FROM task WHERE id = %s", (job,)).fetchone()
    assert row == ([st.carers[1]], None)
    db.commit()
    replanned = replan_for_task(db, job, today(), time_limit_s=1)  # what the planner does on the NOTIFY
    assert replanned is not None
    assert str(job) not in mine(he)  # gone from his phone
    assert [u for u in replanned.plan.unassigned if u.task_id == str(job)] == []
    assert mine(she)[str(job)]["accepted"] is False
    ok = client.post(f"/api/my/visits/{job}/accept", headers=she, json={"client_action_id": uuid.uuid4().hex})
    assert ok.status_code == 200, ok.text
    assert mine(she)[str(job)]["accepted"] is True
    go = client.post(
        f"/api/my/visits/{job}/check-in", headers=she, json={"client_action_id": uuid.uuid4().hex}
    )
    assert go.json()["status"] == "started"
    late = client.post(
        f"/api/my/visits/{job}/decline", headers=she, json={"client_action_id": uuid.uuid4().hex}
    )
    assert late.status_code == 409  # too late once started
    assert tag


def test_api_health_readiness_and_metrics(client: TestClient, db: psycopg.Connection) -> None:
    st = build(db, plans=False)
    alert_for(db, st.homes[0], st.id)
    db.commit()
    assert client.get("/healthz").text == "ok\n"
    assert client.get("/readyz").status_code == 200
    scraped = client.get("/metrics").text
    found = re.search(r'eldercare_open_alerts\{age="lt5m",severity="critical"\} (\d+)', scraped)
    assert found is not None
    assert float(found.group(1)) >= 1
    assert "eldercare_urgent_tasks_pending" in scraped
