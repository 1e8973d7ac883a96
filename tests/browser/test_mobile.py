"""Caregiver phone page in headless Chromium at 360 px: language from the browser, login, today's planned route,
check-in online and check-out queued offline, sent when the network is back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.browser.conftest import PASSWORD, plan_one_visit
from tests.support import wait_until
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(120)]
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def test_caregiver_page_on_a_phone(
    browser: Any, base_url: str, neighbourhood: dict[str, str], settings: Settings, artifacts: Path
) -> None:
    task_id = plan_one_visit(settings, neighbourhood, kind="meal", duration=20)

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
