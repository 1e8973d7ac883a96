"""Re-planning a day in progress on the real stack: a mid-day Run plan keeps what was done or started exactly
as it happened and shows every task once; Run plan racing an urgent insertion never loses the urgent job;
Run plan from the API is a background job that holds no pooled connection."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from dispatcher import plan_store
from dispatcher.records import Horizon
from dispatcher.service import create_urgent_task, plan_day, replan_for_task, unplaced_urgent
from dispatcher.visits import VisitAction, record, visits_for_caregiver
from tests.integration.test_dispatch import alert_for, build, today
from tests.support import CliProcess, skip_near_local_midnight, wait_until
from web.api.app import create_app
from web.auth import users
from web.auth.principal import Role
from web.settings import Settings

pytestmark = pytest.mark.db
PASSWORD = "correct-horse-battery"


def _act(db: psycopg.Connection, cg: str, task_id: str, action: str, at: datetime) -> None:
    record(db, cg, int(task_id), action, VisitAction(client_action_id=uuid.uuid4().hex, at=at), today())  # type: ignore[arg-type]


def _current_visits(db: psycopg.Connection, station_id: str) -> list[tuple[str, str, datetime, datetime]]:
    rows = db.execute(
        "SELECT v.task_id::text, v.caregiver_id, v.planned_start, v.planned_end FROM visit v"
        " JOIN plan p ON p.id = v.plan_id WHERE p.station_id = %s AND p.day = %s"
        " AND p.version = (SELECT max(version) FROM plan q WHERE q.station_id = p.station_id AND q.day = p.day)",
        (station_id, today().date()),
    ).fetchall()
    db.commit()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_a_mid_day_run_plan_keeps_done_and_started_visits_as_they_happened(db: psycopg.Connection) -> None:
    skip_near_local_midnight()
    st = build(db)
    db.commit()
    day = today().date()
    first = plan_day(db, st.id, day, time_limit_s=1)
    visits = [(r.caregiver_id, v.task_id) for r in first.plan.routes for v in r.visits]
    assert len(visits) >= 2, first.plan
    (cg_a, done_task), (cg_b, started_task) = visits[0], visits[1]
    now = today().replace(second=0, microsecond=0)
    checked_in, checked_out, started = (
        now - timedelta(minutes=50),
        now - timedelta(minutes=27),
        now - timedelta(minutes=9),
    )
    _act(db, cg_a, done_task, "check-in", checked_in)
    _act(db, cg_a, done_task, "check-out", checked_out)
    _act(db, cg_b, started_task, "check-in", started)
    db.commit()

    second = plan_day(db, st.id, day, time_limit_s=1, now=now)  # Run plan in the middle of the day
    assert second.version == 2
    horizon = Horizon(day)
    where = {v.task_id: (r.caregiver_id, v) for r in second.plan.routes for v in r.visits}
    who, visit = where[done_task]
    assert (who, horizon.at(visit.start), horizon.at(visit.end)) == (cg_a, checked_in, checked_out)
    who, visit = where[started_task]
    assert (who, horizon.at(visit.start)) == (cg_b, started)
    assert visit.end >= horizon.minute(now)  # still going on
    tasks = Counter(v.task_id for r in second.plan.routes for v in r.visits)
    assert all(n == 1 for n in tasks.values()), tasks  # no double-handed visits here: each task once
    ahead = [v for t, (_, v) in where.items() if t not in (done_task, started_task)]
    assert all(v.start >= horizon.minute(now) for v in ahead), ahead  # only what is ahead is planned
    for cid in st.carers:  # each route in time order
        route = second.plan.route_of(cid)
        assert route is not None
        assert all(b.start <= a.start for a, b in zip(route.visits[1:], route.visits, strict=False))
    route = second.plan.route_of(cg_b)
    assert route is not None
    at = [v.task_id for v in route.visits].index(started_task)
    assert all(v.start >= route.visits[at].end for v in route.visits[at + 1 :])  # nobody leaves a visit early
    stored = _current_visits(db, st.id)
    assert Counter(t for t, *_ in stored) == tasks
    rows = {t: (c, s, e) for t, c, s, e in stored}
    assert rows[done_task] == (cg_a, checked_in, checked_out)
    assert rows[started_task][:2] == (cg_b, started)
    after = {c: [v["task_id"] for v in visits_for_caregiver(db, c, day)] for c in st.carers}
    for cid in st.carers:  # the phone shows each task once, and the history where it was
        assert len(after[cid]) == len(set(after[cid])), after
    assert done_task in after[cg_a]
    assert started_task in after[cg_b]
    assert Counter(t for ts in after.values() for t in ts) == tasks  # the 11 stay 11, not 22
    statuses: dict[str, str] = dict(
        db.execute("SELECT id::text, status FROM task WHERE station_id = %s", (st.id,)).fetchall()
    )
    assert (statuses[done_task], statuses[started_task]) == ("done", "started")
    for t in tasks:
        if t not in (done_task, started_task):
            assert statuses[t] == "planned"
    left = [t for t, s in statuses.items() if s == "planned" and t not in tasks]
    assert left == []  # planned means: in the current plan

    # an urgent insertion after that keeps the history too
    job = create_urgent_task(db, home_id=st.homes[2], alert_id=alert_for(db, st.homes[2], st.id), now=now)
    db.commit()
    third = replan_for_task(db, job, now + timedelta(minutes=1), time_limit_s=1)
    assert third is not None
    where = {v.task_id: (r.caregiver_id, v) for r in third.plan.routes for v in r.visits}
    assert where[done_task][0] == cg_a
    assert (horizon.at(where[done_task][1].start), horizon.at(where[done_task][1].end)) == (
        checked_in,
        checked_out,
    )
    assert where[started_task][0] == cg_b
    assert horizon.at(where[started_task][1].start) == started
    assert Counter(v.task_id for r in third.plan.routes for v in r.visits).most_common(1)[0][1] == 1
    sent = [
        (r.caregiver_id, v.start, v.end) for r in third.plan.routes for v in r.visits if v.task_id == str(job)
    ]
    assert len(sent) == 1

    # Run plan again: the urgent job already sent stays with her, where it was
    fourth = plan_day(db, st.id, day, time_limit_s=1, now=now + timedelta(minutes=2))
    kept = [
        (r.caregiver_id, v.start, v.end)
        for r in fourth.plan.routes
        for v in r.visits
        if v.task_id == str(job)
    ]
    assert kept == sent
    assert db.execute("SELECT status FROM task WHERE id = %s", (job,)).fetchone() == ("planned",)
    assert Counter(v.task_id for r in fourth.plan.routes for v in r.visits).most_common(1)[0][1] == 1


def test_run_plan_racing_an_urgent_insertion_keeps_the_urgent_job(
    db: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    skip_near_local_midnight()
    st = build(db)
    db.commit()
    day = today().date()
    plan_day(db, st.id, day, time_limit_s=1)
    planner = CliProcess(
        ["planner", "--dir", str(settings.stack_dir)], tmp_path / "planner.log", "planner ready"
    )
    solving, go = threading.Event(), threading.Event()
    try:
        result: dict[str, object] = {}

        def progress(msg: str) -> None:  # the solve starts after the read: hold it there until the insertion
            if msg.startswith("solving"):
                solving.set()
                go.wait(30)

        def run_plan() -> None:  # staff press Run plan: a long solve on its own connection
            with psycopg.connect(settings.db().conninfo()) as conn:
                result["stored"] = plan_day(conn, st.id, day, time_limit_s=1, now=today(), progress=progress)

        worker = threading.Thread(target=run_plan)
        worker.start()
        assert solving.wait(20)
        # meanwhile staff assign an alert: the planner inserts the urgent job into the current version
        job = create_urgent_task(
            db, home_id=st.homes[1], alert_id=alert_for(db, st.homes[1], st.id), now=today()
        )
        db.commit()

        def placed_in_current() -> bool:
            return any(t == str(job) for t, *_ in _current_visits(db, st.id))

        assert wait_until(placed_in_current, 20), planner.log()
        inserted = plan_store.current(db, st.id, day)
        assert inserted is not None
        go.set()
        worker.join(60)
        assert not worker.is_alive()
        assert "stored" in result
        # Run plan saved a later version solved without it; the job went back to the planner, which put it in
        assert wait_until(lambda: placed_in_current() and _version(db, st.id) > inserted.version + 1, 30), (
            planner.log()
        )
        status = db.execute("SELECT status FROM task WHERE id = %s", (job,)).fetchone()
        assert status == ("planned",)
        assert [t for t in unplaced_urgent(db, day) if t == job] == []
        assert Counter(t for t, *_ in _current_visits(db, st.id))[str(job)] == 1
    finally:
        go.set()  # never leave the Run plan thread waiting
        assert planner.stop() == 0


def _version(db: psycopg.Connection, station_id: str) -> int:
    stored = plan_store.current(db, station_id, today().date())
    db.commit()
    return stored.version if stored else 0


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cookie_secure=False)) as c:
        yield c


def test_run_plan_from_the_api_is_a_background_job(db: psycopg.Connection, client: TestClient) -> None:
    st = build(db)
    tag = st.id[3:]
    users.create_user(db, username=f"sj-{tag}", name="站长", role=Role.STAFF, password=PASSWORD,
                      station_ids=[st.id])  # fmt: skip
    other = build(db)
    db.commit()
    r = client.post("/api/auth/login", json={"username": f"sj-{tag}", "password": PASSWORD})
    client.cookies.clear()
    staff = {"Authorization": f"Bearer {r.json()['access_token']}"}
    day = today().date().isoformat()
    began = time.monotonic()
    r = client.post(f"/api/stations/{st.id}/plan", headers=staff, json={"day": day, "time_limit_s": 3})
    assert r.status_code == 202, r.text
    assert time.monotonic() - began < 2.5  # answered before the solve ends
    job = r.json()
    assert job["state"] in ("queued", "running")
    again = client.post(f"/api/stations/{st.id}/plan", headers=staff, json={"day": day, "time_limit_s": 3})
    assert again.json()["id"] == job["id"]  # one solve per station-day at a time
    # the board keeps loading while the solve runs
    assert client.get(f"/api/stations/{st.id}/tasks", headers=staff, params={"day": day}).status_code == 200
    path = f"/api/stations/{st.id}/plan/jobs/{job['id']}"
    assert wait_until(lambda: client.get(path, headers=staff).json()["state"] == "done", 30)
    done = client.get(path, headers=staff).json()
    assert done["version"] == 1
    assert any(line.startswith("solving") for line in done["progress"])
    assert client.get(f"/api/stations/{st.id}/plan", headers=staff).json()["version"] == 1
    assert client.get(f"/api/stations/{other.id}/plan/jobs/{job['id']}", headers=staff).status_code == 404
    assert client.post(f"/api/stations/{other.id}/plan", headers=staff, json={"day": day}).status_code == 404
