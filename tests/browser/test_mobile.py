"""Caregiver phone page in headless Chromium at 360 px: language from the browser, login, today's planned route,
check-in online and check-out queued offline, sent when the network is back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dispatcher.generate import add_service_plan
from dispatcher.records import DEFAULT_TZ, CaregiverSpec, ShiftSpec, upsert_caregiver
from dispatcher.service import plan_day
from tests.browser.conftest import PASSWORD
from tests.support import wait_until
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(120)]
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def _plan_one_visit(settings: Settings, ids: dict[str, str]) -> int:
    """The caregiver gets today's plan with one meal at the neighbourhood's home; returns the task id."""
    day = datetime.now(DEFAULT_TZ).date()
    with psycopg.connect(settings.db().conninfo()) as conn:
        upsert_caregiver(conn, CaregiverSpec(id=f"cg-{ids['tag']}", station_id=ids["station"], name="护理员小李",
                                             sex="female", shifts=[ShiftSpec(start="00:00", end="23:59")]))  # fmt: skip
        add_service_plan(conn, f"meal-{ids['tag']}", ids["resident"], {
            "recurrence": "daily", "start": day.isoformat(), "kind": "meal", "duration": 20,
            "window": {"start": "00:30", "end": "23:30"}})  # fmt: skip
        conn.commit()
        stored = plan_day(conn, ids["station"], day, time_limit_s=1)
        (route,) = stored.plan.routes
        (visit,) = route.visits
        return int(visit.task_id)


def test_caregiver_page_on_a_phone(
    browser: Any, base_url: str, neighbourhood: dict[str, str], settings: Settings, artifacts: Path
) -> None:
    task_id = _plan_one_visit(settings, neighbourhood)

    def task() -> tuple[str, str, bool]:
        with psycopg.connect(settings.db().conninfo()) as conn:
            row = conn.execute("SELECT status, notes, problem FROM task WHERE id = %s", (task_id,)).fetchone()
        assert row is not None
        return row[0], row[1], row[2]

    ctx = browser.new_context(locale="zh-CN", geolocation={"latitude": 29.703, "longitude": 106.604},
                              permissions=["geolocation"], **PHONE)  # fmt: skip
    page = ctx.new_page()
    page.goto(base_url + "/m")
    assert page.inner_text("header h1") == "今日上门任务"  # default language from the browser
    page.fill("#username", neighbourhood["caregiver"])
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    card = page.wait_for_selector(f"[data-task='{task_id}']")
    assert "陈奶奶" in card.inner_text()
    assert "钥匙在物业" in card.inner_text()  # what she needs at the door
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
    painted = page.evaluate(
        "(() => { const c = document.querySelector('#route-map'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) "
        "if (d[i]) n++; return n; })()"
    )
    assert painted > 100  # the stop was drawn on the route map
    page.screenshot(path=str(artifacts / "mobile-route.png"))

    page.click(f"[data-task='{task_id}'] [data-act=check-in]")
    assert wait_until(lambda: task()[0] == "started", 10), task()
    page.wait_for_selector(f"[data-task='{task_id}'] [data-act=check-out]")

    ctx.set_offline(True)  # in a lift, no signal: the check-out waits in the phone's queue
    page.fill(f"[data-task='{task_id}'] [data-notes]", "午饭已送到，老人胃口好")
    page.check(f"[data-task='{task_id}'] [data-problem]")
    page.click(f"[data-task='{task_id}'] [data-act=check-out]")
    page.wait_for_selector("#queued:has-text('离线排队中')")
    assert task()[0] == "started"
    ctx.set_offline(False)
    assert wait_until(lambda: task()[0] == "done", 15), task()
    assert task() == ("done", "午饭已送到，老人胃口好", True)
    page.screenshot(path=str(artifacts / "mobile-done.png"))

    page.select_option("#lang", "en")
    assert page.inner_text("header h1") == "My visits today"
    ctx.close()
