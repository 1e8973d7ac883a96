"""The phone's offline queue in headless Chromium never drops an action silently: a check-in queued offline is
sent after the caregiver logs in again (401), a visit moved away by a re-plan (404) and a phone clock running
fast (422) are shown with the reason and a way out (retry / discard with confirmation) and reach the station's
staff; after logout no resident data is left in localStorage. Run plan on the dashboard is a background job."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from dispatcher.records import DEFAULT_TZ, CaregiverSpec, ShiftSpec, upsert_caregiver
from dispatcher.service import plan_day
from tests.browser.conftest import PASSWORD, plan_one_visit
from tests.browser.test_mobile import PHONE
from tests.support import wait_until
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(150)]
RESIDENT_DATA = ("陈奶奶", "和平路", "钥匙在物业")


def _status(settings: Settings, task_id: int) -> str:
    with psycopg.connect(settings.db().conninfo()) as conn:
        row = conn.execute("SELECT status FROM task WHERE id = %s", (task_id,)).fetchone()
    assert row is not None
    return str(row[0])


def _queue(page: Any) -> list[dict[str, Any]]:
    return list(json.loads(page.evaluate("localStorage.getItem('eldercare.queue') || '[]'")))


def _login(page: Any, username: str) -> None:
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")


def _move_visit(settings: Settings, ids: dict[str, str]) -> None:
    """Re-plan the day from now with her off duty: the visit goes to the other caregiver (or, late in the
    evening when its window has passed, to nobody): either way it is no longer hers."""
    mine, other = f"cg-{ids['tag']}", f"cg2-{ids['tag']}"
    with psycopg.connect(settings.db().conninfo()) as conn:
        upsert_caregiver(conn, CaregiverSpec(id=other, station_id=ids["station"], name="护理员小王", sex="female",
                                             shifts=[ShiftSpec(start="00:00", end="23:59")]))  # fmt: skip
        conn.execute("UPDATE caregiver SET active = false WHERE id = %s", (mine,))
        conn.commit()
        now = datetime.now(DEFAULT_TZ)
        plan_day(conn, ids["station"], now.date(), time_limit_s=1, now=now)


def _staff_sees(base_url: str, ids: dict[str, str], task_id: int, code: str) -> bool:
    with httpx.Client(base_url=base_url) as http:
        token = http.post("/api/auth/login", json={"username": ids["staff"], "password": PASSWORD}).json()
        r = http.get(f"/api/stations/{ids['station']}/rejected-actions",
                     headers={"Authorization": f"Bearer {token['access_token']}"})  # fmt: skip
        assert r.status_code == 200, r.text
        return any(a["task_id"] == task_id and a["code"] == code for a in r.json())


def test_a_check_in_queued_offline_is_sent_after_logging_in_again_and_logout_leaves_no_resident_data(
    browser: Any, base_url: str, neighbourhood: dict[str, str], settings: Settings
) -> None:
    task_id = plan_one_visit(settings, neighbourhood, kind="meal", duration=20)
    ctx = browser.new_context(locale="zh-CN", **PHONE)
    page = ctx.new_page()
    page.goto(base_url + "/m")
    _login(page, neighbourhood["caregiver"])
    page.wait_for_selector(f"[data-task='{task_id}'] [data-act=check-in]")
    stored = page.evaluate("JSON.stringify(localStorage)")
    assert "陈奶奶" in stored  # today's route is kept for offline use while she is logged in

    ctx.set_offline(True)
    page.click(f"[data-task='{task_id}'] [data-act=check-in]")
    page.wait_for_selector("#queued:has-text('离线排队中')")
    with psycopg.connect(settings.db().conninfo()) as conn:  # meanwhile her session ends (refresh expired)
        conn.execute(
            "UPDATE web_session SET revoked_at = now() WHERE revoked_at IS NULL"
            " AND user_id = (SELECT id FROM app_user WHERE username = %s)",
            (neighbourhood["caregiver"],),
        )
        conn.commit()
    ctx.set_offline(False)
    page.wait_for_selector("#login:not([hidden]) #login-note:has-text('重新登录')")
    assert _status(settings, task_id) == "planned"
    assert len(_queue(page)) == 1  # kept, not dropped
    _login(page, neighbourhood["caregiver"])
    assert wait_until(lambda: _status(settings, task_id) == "started", 15)
    page.wait_for_function("!(localStorage.getItem('eldercare.queue') || '[]').includes('check-in')")

    page.click("#logout")
    page.wait_for_selector("#login:not([hidden])")
    page.wait_for_load_state()
    left = page.evaluate("JSON.stringify(localStorage)")
    assert not any(word in left for word in RESIDENT_DATA), left
    assert "visits" not in json.loads(left)
    ctx.close()


def test_a_check_in_for_a_visit_moved_away_is_shown_then_discarded_and_staff_see_it(
    browser: Any, base_url: str, neighbourhood: dict[str, str], settings: Settings
) -> None:
    task_id = plan_one_visit(settings, neighbourhood, kind="meal", duration=20)
    ctx = browser.new_context(locale="zh-CN", **PHONE)
    page = ctx.new_page()
    page.goto(base_url + "/m")
    _login(page, neighbourhood["caregiver"])
    page.wait_for_selector(f"[data-task='{task_id}'] [data-act=check-in]")
    ctx.set_offline(True)
    page.click(f"[data-task='{task_id}'] [data-act=check-in]")
    page.wait_for_selector("#queued:has-text('离线排队中')")
    _move_visit(settings, neighbourhood)  # a re-plan gives the visit to someone else
    ctx.set_offline(False)
    card = page.wait_for_selector("#rejected [data-status='404']")
    assert "计划已调整" in card.inner_text()  # the reason, in her language
    assert _status(settings, task_id) in ("planned", "pending")  # not started by her refused check-in
    page.wait_for_selector(f"#visits [data-task='{task_id}']", state="detached")  # no longer on her route
    assert len(_queue(page)) == 1
    assert _staff_sees(base_url, neighbourhood, task_id, "not_found")

    page.once("dialog", lambda d: d.dismiss())  # she hesitates: nothing is discarded
    page.click("#rejected [data-discard]")
    assert len(_queue(page)) == 1
    page.once("dialog", lambda d: d.accept())
    page.click("#rejected [data-discard]")
    page.wait_for_selector("#rejected", state="hidden")
    assert _queue(page) == []
    ctx.close()


def test_a_check_in_from_a_phone_whose_clock_runs_fast_is_shown_and_sent_with_the_server_time(
    browser: Any, base_url: str, neighbourhood: dict[str, str], settings: Settings
) -> None:
    task_id = plan_one_visit(settings, neighbourhood, kind="meal", duration=20)
    ctx = browser.new_context(locale="en-GB", **PHONE)
    page = ctx.new_page()
    page.clock.install(time=datetime.now(DEFAULT_TZ) + timedelta(minutes=40))  # the phone is 40 minutes fast
    page.goto(base_url + "/m")
    _login(page, neighbourhood["caregiver"])
    page.wait_for_selector(f"[data-task='{task_id}'] [data-act=check-in]")
    ctx.set_offline(True)
    page.click(f"[data-task='{task_id}'] [data-act=check-in]")
    ctx.set_offline(False)
    card = page.wait_for_selector("#rejected [data-status='422']")
    assert "clock is ahead" in card.inner_text()
    page.wait_for_selector(f"#visits [data-task='{task_id}'] [data-act=check-in]")  # not shown as started
    assert _status(settings, task_id) == "planned"
    assert _staff_sees(base_url, neighbourhood, task_id, "clock_ahead")
    page.click("#rejected [data-retry-now]")
    assert wait_until(lambda: _status(settings, task_id) == "started", 15)
    page.wait_for_selector("#rejected", state="hidden")
    assert _queue(page) == []
    ctx.close()


def test_run_plan_on_the_dashboard_shows_the_job_and_its_result(
    browser: Any, base_url: str, neighbourhood: dict[str, str], settings: Settings
) -> None:
    plan_one_visit(settings, neighbourhood, kind="visit", duration=30)
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(base_url + "/")
    page.fill("#username", neighbourhood["staff"])
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.click("nav [data-view=plans]")
    page.wait_for_selector("svg.gantt rect[data-task]")
    page.click("[data-run]")
    page.wait_for_selector("[data-status]:has-text('Stored v2')", timeout=60_000)
    ctx.close()
