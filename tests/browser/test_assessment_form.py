"""A staff member assesses an elder in the back-office form (zh-CN): the score and level follow the answers as
they are filled, a missing answer is marked next to its question, and the recorded level shows the monthly
entitlements it leads to (the proposed services)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from dispatcher.assessment.gbt42195 import ITEMS
from tests.browser.conftest import PASSWORD
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(120)]

# Dependent in all self-care (B.1 0), bed mobility and transfers 2, walking 1, stairs 0 (B.2 5), otherwise able:
# 0 + 5 + 28 + 15 = 48 → 能力中度受损; a diagnosed dementia raises it to 能力重度受损.
SEVERE = {f"B.1.{n}": 0 for n in range(1, 9)} | {"B.2.1": 2, "B.2.2": 2, "B.2.3": 1, "B.2.4": 0}


def test_staff_assesses_an_elder_and_sees_level_and_services(
    browser: Any, base_url: str, neighbourhood: dict[str, str], settings: Settings, artifacts: Path
) -> None:
    ids = neighbourhood
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO resident_category (resident_id, category, recorded_by) VALUES (%s, 'dibao', 'test')",
            (ids["resident"],),
        )
    ctx = browser.new_context(locale="zh-CN")
    try:
        page = ctx.new_page()
        page.goto(base_url + "/")
        page.fill("#username", ids["staff"])
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#app:not([hidden])")
        page.click("nav [data-view=assess]")
        page.wait_for_selector("#assess-pick")
        page.select_option("#assess-pick", ids["resident"])
        page.wait_for_selector("#assess-form")
        assert "尚无评估" in page.locator("#entitlements").inner_text()

        answers = {i.code: str(i.max) for i in ITEMS} | {k: str(v) for k, v in SEVERE.items()}
        page.fill("#assess-form [name=assessors]", "张评估，李评估")
        for code, value in answers.items():
            if code != "B.4.1":
                page.select_option(f"#assess-form select[name='{code}']", value)
        assert page.locator("#assess-level").inner_text() == "—"  # not complete yet: no level
        assert page.locator("#assess-answered").inner_text() == "25"

        # Recording with a question unanswered: refused, and the reason is shown next to that question.
        page.click("#assess-form button[type=submit]")
        page.wait_for_selector("tr[data-item='B.4.1'] .item-error:not(:empty)")
        assert "请更正" in page.locator("#assess-result").inner_text()

        page.select_option("#assess-form select[name='B.4.1']", "2")
        assert page.locator("#assess-total").inner_text() == "48"
        assert page.locator("#assess-level").inner_text() == "能力中度受损"
        page.check("#assess-form [name=dementia]")
        assert (
            page.locator("#assess-level").inner_text() == "能力重度受损"
        )  # raised by one level as it is filled

        page.click("#assess-form button[type=submit]")
        page.wait_for_selector("#assess-result[data-level=severe]")
        assert "能力重度受损" in page.locator("#assess-result").inner_text()
        ent = page.locator("#entitlements").inner_text()
        for text in (
            "能力重度受损",
            "低保",
            "助浴: 4 次 每月",
            "可申请家庭养老床位",
            "经济困难失能老年人护理补贴",
        ):
            assert text in ent
        assert "能力重度受损" in page.locator("#assess-history").inner_text()
        page.screenshot(path=str(artifacts / "assessment-form.png"), full_page=True)
    finally:
        ctx.close()
