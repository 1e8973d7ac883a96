"""Caregiver phone page in headless Chromium at 360 px: language from the browser, login, today's route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(120)]
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def test_caregiver_page_on_a_phone(
    browser: Any, base_url: str, neighbourhood: dict[str, str], artifacts: Path
) -> None:
    ctx = browser.new_context(locale="zh-CN", **PHONE)
    page = ctx.new_page()
    page.goto(base_url + "/m")
    assert page.inner_text("header h1") == "今日上门任务"  # default language from the browser
    page.fill("#username", neighbourhood["caregiver"])
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("#visits > *")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
    page.screenshot(path=str(artifacts / "mobile-route.png"))
    page.select_option("#lang", "en")
    assert page.inner_text("header h1") == "My visits today"
    ctx.close()
