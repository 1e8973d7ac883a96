"""The admin's Users page: disable a user (their session ends), reset a password (shown once), end sessions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(120)]


def _login(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base_url + "/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")


def test_admin_resets_a_password_and_disables_a_user(
    browser: Any, base_url: str, neighbourhood: dict[str, str]
) -> None:
    ids = neighbourhood
    admin = browser.new_context(locale="zh-CN")
    staff = browser.new_context(locale="en-US")
    try:
        page, other = admin.new_page(), staff.new_page()
        _login(other, base_url, ids["staff"])
        _login(page, base_url, ids["admin"])
        page.on("dialog", lambda d: d.accept())  # the confirmations
        page.click("nav [data-view=users]")
        row = page.locator("tr", has_text=ids["staff"])
        assert "正常" in row.inner_text()  # zh-CN strings
        row.locator("button[data-act=reset-password]").click()
        page.wait_for_selector("#users-result code")
        new_password = page.locator("#users-result code").inner_text()
        assert len(new_password) >= 16
        assert "仅显示这一次" in page.locator("#users-result").inner_text()

        # the staff member's session ended with the reset; the new password works, the old one not
        assert other.evaluate("fetch('/api/me').then(r => r.status)") == 401
        _login(other, base_url, ids["staff"], new_password)

        page.locator("tr", has_text=ids["staff"]).locator("button[data-act=disable]").click()
        page.wait_for_selector(f"tr:has-text('{ids['staff']}') button[data-act=enable]")
        assert "已停用" in page.locator("tr", has_text=ids["staff"]).inner_text()
        assert other.evaluate("fetch('/api/me').then(r => r.status)") == 401
        page.locator("tr", has_text=ids["staff"]).locator("button[data-act=enable]").click()
        page.wait_for_selector(f"tr:has-text('{ids['staff']}') button[data-act=disable]")
    finally:
        admin.close()
        staff.close()
