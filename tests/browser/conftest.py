"""Browser fixtures: a real `eldercare serve` process and headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from devices import registry
from dispatcher.generate import add_service_plan
from dispatcher.records import DEFAULT_TZ, CaregiverSpec, ShiftSpec, upsert_caregiver
from dispatcher.service import plan_day
from web.api.bench import server
from web.auth import users
from web.auth.principal import Role
from web.settings import Settings

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "browser-password-123"

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (driver only)")
if not shutil.which(CHROMIUM):
    pytest.skip("Debian chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="session")
def base_url(settings: Settings) -> Iterator[str]:
    with server(settings) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def neighbourhood(settings: Settings) -> dict[str, str]:
    """A station with two homes (one with an SOS button), a staff member and a caregiver."""
    tag = uuid.uuid4().hex[:6]
    ids = {"tag": tag, "station": f"bst-{tag}", "home": f"bh-{tag}", "home2": f"bh2-{tag}", "sos": f"sos-{tag}",
           "resident": f"br-{tag}", "staff": f"staff-{tag}", "caregiver": f"carer-{tag}",
           "admin": f"admin-{tag}"}  # fmt: skip
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        registry.add_station(conn, id=ids["station"], name="和平社区站", lat=29.70, lon=106.60)
        registry.add_home(conn, id=ids["home"], station_id=ids["station"], address="和平路8号3单元",
                          lat=29.703, lon=106.604, access_notes="钥匙在物业")  # fmt: skip
        registry.add_home(conn, id=ids["home2"], station_id=ids["station"], address="和平路10号",
                          lat=29.698, lon=106.597)  # fmt: skip
        registry.add_resident(
            conn, id=ids["resident"], home_id=ids["home"], name="陈奶奶", birth_year=1939, sex="F"
        )
        users.create_user(conn, username=ids["staff"], name="值班员", role=Role.STAFF, password=PASSWORD,
                          station_ids=[ids["station"]])  # fmt: skip
        users.create_user(conn, username=ids["admin"], name="区管理员", role=Role.ADMIN, password=PASSWORD)
        users.create_user(conn, username=ids["caregiver"], name="护理员小李", role=Role.CAREGIVER,
                          password=PASSWORD, station_ids=[ids["station"]], caregiver_id=f"cg-{tag}")  # fmt: skip
    return ids


def plan_one_visit(settings: Settings, ids: dict[str, str], *, kind: str, duration: int) -> int:
    """The neighbourhood's caregiver (on shift all day) gets today's plan with one visit of ``kind`` at the
    neighbourhood's home; returns its task id."""
    day = datetime.now(DEFAULT_TZ).date()
    with psycopg.connect(settings.db().conninfo()) as conn:
        upsert_caregiver(conn, CaregiverSpec(id=f"cg-{ids['tag']}", station_id=ids["station"], name="护理员小李",
                                             sex="female", shifts=[ShiftSpec(start="00:00", end="23:59")]))  # fmt: skip
        add_service_plan(conn, f"{kind}-{ids['tag']}", ids["resident"], {
            "recurrence": "daily", "start": day.isoformat(), "kind": kind, "duration": duration,
            "window": {"start": "00:30", "end": "23:30"}})  # fmt: skip
        conn.commit()
        stored = plan_day(conn, ids["station"], day, time_limit_s=1)
        (route,) = stored.plan.routes
        (visit,) = route.visits
        return int(visit.task_id)
