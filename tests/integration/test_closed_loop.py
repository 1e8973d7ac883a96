"""The closed loop on the real stack, every part a real process or the real API:

a simulated resident falls in the bathroom (no fall detector) → ingest stores the readings → the rules
process raises an inactivity alert → the dashboard's websocket shows it → staff assign the suggested
caregiver, creating an urgent task → the planner process re-plans → the caregiver's app lists the job →
she accepts and checks in → staff resolve the alert as a real incident. Step timings (wall clock, and
simulated time where it applies) are printed and written to test-artifacts/closed-loop-timings.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices import registry
from dispatcher.records import DEFAULT_TZ, CaregiverSpec, ShiftSpec, upsert_caregiver
from tests.support import CliProcess, IngestProcess, around, skip_near_local_midnight, wait_until
from web.api.app import create_app
from web.auth import users
from web.auth.principal import Role
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(420)]
PASSWORD = "correct-horse-battery"
SPEED, SECONDS = 600, 75  # simulated seconds per real second; real seconds of simulation
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_fall_to_caregiver_at_the_door(settings: Settings, tmp_path: Path) -> None:
    skip_near_local_midnight()
    now = datetime.now(DEFAULT_TZ)
    tag = uuid.uuid4().hex[:6]
    station, carer = f"loop-{tag}", f"cg-loop-{tag}"
    shift = ShiftSpec(**around(3, 3))  # around now, within the local day
    with psycopg.connect(settings.db().conninfo()) as conn:
        registry.add_station(conn, id=station, name="闭环站", lat=29.70, lon=106.60, travel_mode="ebike")
        upsert_caregiver(conn, CaregiverSpec(id=carer, station_id=station, name="赵护理", sex="female",
                                             skills=["nursing"], travel_mode="ebike", shifts=[shift]))  # fmt: skip
        users.create_user(conn, username=f"staff-{tag}", name="值班员", role=Role.STAFF, password=PASSWORD,
                          station_ids=[station])  # fmt: skip
        users.create_user(conn, username=f"carer-{tag}", name="赵护理", role=Role.CAREGIVER, password=PASSWORD,
                          station_ids=[station], caregiver_id=carer)  # fmt: skip
        conn.commit()
    d = ["--dir", str(settings.stack_dir)]
    ingest = IngestProcess(settings.stack_dir, f"loop-{tag}", tmp_path / "ingest.log")
    rules = CliProcess(["rules", *d, "--clock", "data", "--tick-s", "1", "--worker-id", f"loop-{tag}"],
                       tmp_path / "rules.log", "rules ready")  # fmt: skip
    planner = CliProcess(["planner", *d], tmp_path / "planner.log", "planner ready")
    start = (now - timedelta(hours=10)).replace(second=0, microsecond=0, tzinfo=None)  # local, simulated
    fall_at = start + timedelta(hours=7)  # reached after 7 h / 600 = 42 s of real time
    truth = tmp_path / "truth.jsonl"
    steps: dict[str, Any] = {}
    try:
        with TestClient(create_app(settings, cookie_secure=False)) as client:
            staff, phone = _login(client, f"staff-{tag}"), _login(client, f"carer-{tag}")
            with client.websocket_connect("/ws/live", headers=staff) as ws:
                assert [ws.receive_json()["type"] for _ in range(2)] == ["hello", "live"]
                t0 = time.monotonic()
                sim = subprocess.Popen(
                    [sys.executable, "-m", "web.cli", "simulate", *d, "--provision", "--station", station,
                     "--homes", "1", "--speed", str(SPEED), "--seconds", str(SECONDS), "--seed", "2",  # seed 2: a home without fall detectors
                     "--start", start.isoformat(), "--incidents", f"fall_bathroom@{fall_at.isoformat()}+2h", "--truth", str(truth)],
                    stdout=subprocess.DEVNULL, stderr=(tmp_path / "simulate.log").open("wb"), stdin=subprocess.DEVNULL,
                )  # fmt: skip
                with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:

                    def the_alert() -> tuple[Any, ...] | None:
                        return conn.execute(
                            "SELECT a.id, a.kind, a.detected_at, a.home_id FROM alert a JOIN home h ON h.id = a.home_id"
                            " WHERE h.station_id = %s AND a.kind IN ('inactivity', 'long_bathroom')"
                            " AND a.started_at >= %s ORDER BY a.id LIMIT 1",
                            (station, fall_at.replace(tzinfo=DEFAULT_TZ) - timedelta(minutes=10)),
                        ).fetchone()

                    assert wait_until(lambda: the_alert() is not None, SECONDS + 60), rules.log()[-3000:]
                    alert_id, kind, detected_at, home_id = the_alert()  # type: ignore[misc]
                    steps["alert_committed_s"] = round(time.monotonic() - t0, 2)
                    steps["fall_to_alert_wall_s_at_600x"] = round(
                        steps["alert_committed_s"] - 7 * 3600 / SPEED, 2
                    )
                    while True:  # the staff's dashboard receives it
                        msg = ws.receive_json()
                        if msg.get("topic") == "alert" and msg.get("subject_id") == str(alert_id):
                            break
                    steps["dashboard_shows_it_s"] = round(time.monotonic() - t0, 2)
                    steps["alert_kind"] = kind
                    steps["simulated_fall_to_detection_min"] = round(
                        (detected_at - fall_at.replace(tzinfo=DEFAULT_TZ)).total_seconds() / 60, 1
                    )
                    suggested = client.get(f"/api/alerts/{alert_id}/suggestions", headers=staff).json()
                    assert [s["caregiver_id"] for s in suggested] == [carer]
                    r = client.post(
                        f"/api/alerts/{alert_id}/assign", headers=staff, json={"caregiver_id": carer}
                    )
                    assert r.status_code == 200, r.text
                    task_id = str(r.json()["task_id"])
                    steps["assigned_s"] = round(time.monotonic() - t0, 2)

                    def on_phone() -> dict[str, Any] | None:
                        jobs = client.get("/api/my/visits", headers=phone).json()
                        return next((v for v in jobs if v["task_id"] == task_id), None)

                    assert wait_until(lambda: on_phone() is not None, 30), planner.log()[-3000:]
                    job = on_phone()
                    assert job is not None
                    assert (job["urgent"], job["home_id"]) == (True, home_id)
                    steps["replanned_job_on_phone_s"] = round(time.monotonic() - t0, 2)
                    for act in ("accept", "check-in"):
                        r = client.post(f"/api/my/visits/{task_id}/{act}", headers=phone,
                                        json={"client_action_id": uuid.uuid4().hex, "lat": 29.7, "lon": 106.6})  # fmt: skip
                        assert r.status_code == 200, r.text
                    steps["caregiver_checked_in_s"] = round(time.monotonic() - t0, 2)
                    r = client.post(f"/api/alerts/{alert_id}/resolve", headers=staff,
                                    json={"outcome": "real_incident", "notes": "护理员到场，老人已扶起送医"})  # fmt: skip
                    assert r.json()["status"] == "resolved"
                    steps["resolved_s"] = round(time.monotonic() - t0, 2)
                    history = [
                        e["action"]
                        for e in client.get(f"/api/alerts/{alert_id}", headers=staff).json()["history"]
                    ]
                    assert history[0] == "raised"
                    assert history[-2:] == ["assigned", "resolved"]
                assert sim.wait(SECONDS + 60) == 0
        records = [json.loads(line) for line in truth.read_text().splitlines() if line.strip()]
        (fell,) = [r for r in records if r["kind"] == "fall_bathroom" and r["home"] == home_id]
        assert fell["details"]["fall_detector"] is False  # found by the inactivity rule alone
        steps["ground_truth"] = fell
    finally:
        for proc in (planner, rules, ingest):
            proc.stop()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "closed-loop-timings.json").write_text(json.dumps(steps, indent=2, default=str))
    print("closed loop timings:", json.dumps(steps, default=str))
