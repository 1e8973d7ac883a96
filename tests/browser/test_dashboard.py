"""Staff dashboard in headless Chromium: login, a live alert on the board within 2 s, map, home page, zh-CN."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devices import provisioning, registry
from devices.types import DeviceKind, Room
from monitor.alerts import store
from monitor.rules.candidate import AlertCandidate
from monitor.rules.kinds import AlertKind, Severity
from tests.browser.conftest import PASSWORD, plan_one_visit
from tests.support import CliProcess, skip_near_local_midnight, wait_until
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(120)]


def _login(page: Any, base_url: str, username: str) -> None:
    page.goto(base_url + "/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")


def _readings(settings: Settings, home: str) -> None:
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO reading (time, device_id, seq, kind, home_id, room, data) SELECT t, 'thermo', "
            "extract(epoch FROM t)::bigint, 'temperature', %s, 'bedroom', jsonb_build_object('temperature', "
            "20 + 3 * sin(extract(epoch FROM t) / 20000)) FROM generate_series(now() - interval '7 days', now(), "
            "interval '30 minutes') t",
            (home,),
        )


def test_staff_sees_a_live_alert_map_and_home(
    browser: Any,
    base_url: str,
    neighbourhood: dict[str, str],
    settings: Settings,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    ids = neighbourhood
    _readings(settings, ids["home"])
    with psycopg.connect(
        settings.db().conninfo()
    ) as conn:  # the home's SOS pendant, with its own broker login
        registry.add_device(
            conn, id=ids["sos"], home_id=ids["home"], kind=DeviceKind.SOS_BUTTON, room=Room.BEDROOM
        )
        password = provisioning.provision(conn, device_id=ids["sos"], broker=settings.mqtt()).password
        conn.commit()
    rules = CliProcess(["rules", "--dir", str(settings.stack_dir), "--worker-id", f"browser-{ids['tag']}",
                        "--session-expiry-s", "0"], tmp_path / "rules.log", "rules ready")  # fmt: skip
    try:
        ctx = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        _login(page, base_url, ids["staff"])
        page.wait_for_selector("#live-state.live")
        assert page.inner_text("#board") == "No open alerts"
        pressed = time.monotonic()
        subprocess.run(
            ["mosquitto_pub", "-h", settings.mqtt_host, "-p", str(settings.mqtt_port), "-q", "1",
             "-u", ids["sos"], "-P", password, "-t", f"eldercare/v1/devices/{ids['sos']}/event",
             "-m", json.dumps({"ts": datetime.now(UTC).isoformat(), "seq": 1, "kind": "sos_button",
                               "values": {"action": "sos"}})], check=True, timeout=10,
        )  # fmt: skip
        card = page.wait_for_selector(".alert.sev-critical", timeout=5000)
        took = time.monotonic() - pressed
        assert took < 2.0, f"SOS press to the board took {took:.2f} s"
        assert "和平路8号3单元" in card.inner_text()
        page.screenshot(path=str(artifacts / "dashboard-alert-board.png"))
        page.click(".alert.sev-critical [data-act=ack]")
        page.wait_for_selector(".alert.sev-critical .status:has-text('acknowledged')")
    finally:
        rules.stop()
    page.select_option("#lang", "zh-CN")
    assert page.inner_text("nav [data-view=alerts]") == "告警"
    assert "紧急呼叫" in page.inner_text(".alert .kind")
    page.select_option(".alert.sev-critical [data-outcome]", "real_incident")
    page.fill(".alert.sev-critical [data-notes]", "已电话联系，老人误按")
    page.click(".alert.sev-critical [data-act=resolve]")
    page.wait_for_selector(".alert.sev-critical", state="detached")  # resolved: off the board

    page.click("nav [data-view=map]")
    # (wait_for_function would need 'unsafe-eval', which our Content-Security-Policy rightly refuses)
    assert wait_until(lambda: page.evaluate("document.querySelector('#map-canvas').width") > 0, 5)
    painted = page.evaluate(
        "(() => { const c = document.querySelector('#map-canvas'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) "
        "if (d[i]) n++; return n; })()"
    )
    assert painted > 100  # homes and the station's circle were drawn from our own data
    page.screenshot(path=str(artifacts / "dashboard-map.png"))

    page.click("nav [data-view=home]")
    page.click(f"[data-home={neighbourhood['home']}]")
    page.wait_for_selector("#c-temp")
    assert "陈奶奶" in page.inner_text(".resident")
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "dashboard-home.png"), full_page=True)

    page.goto(base_url + "/")  # reload: the session cookie keeps us logged in, language remembered
    page.wait_for_selector("#app:not([hidden])")
    assert page.inner_text("nav [data-view=alerts]") == "告警"
    ctx.close()


def test_admin_reads_the_audit_log(
    browser: Any, base_url: str, neighbourhood: dict[str, str], artifacts: Path
) -> None:
    ctx = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _login(page, base_url, neighbourhood["staff"])
    page.click("nav [data-view=home]")
    page.click(f"[data-home={neighbourhood['home']}]")
    page.wait_for_selector(".resident")
    assert page.is_hidden("nav [data-view=audit]")  # staff have no audit view
    with page.expect_navigation():  # logging out reloads the page: let that finish before navigating
        page.click("#logout")
    _login(page, base_url, neighbourhood["admin"])
    page.click("nav [data-view=audit]")
    page.wait_for_selector("#audit table")
    text = page.inner_text("#audit")
    assert f"read home/{neighbourhood['home']}" in text
    assert neighbourhood["resident"] in text
    assert neighbourhood["staff"] in text
    page.screenshot(path=str(artifacts / "dashboard-audit.png"))
    ctx.close()


def test_staff_see_the_plan_and_send_the_nearest_caregiver(
    browser: Any, base_url: str, neighbourhood: dict[str, str], settings: Settings, artifacts: Path
) -> None:
    skip_near_local_midnight()
    ids = neighbourhood
    plan_one_visit(settings, ids, kind="visit", duration=30)
    # A browser far from Chongqing: its own date differs from the station's for 16 hours a day, and the
    # dashboard must still open on the station's today.
    ctx = browser.new_context(
        locale="zh-CN", timezone_id="America/Los_Angeles", viewport={"width": 1280, "height": 800}
    )
    page = ctx.new_page()
    _login(page, base_url, ids["staff"])
    page.click("nav [data-view=plans]")
    page.wait_for_selector("svg.gantt rect[data-task]")
    assert f"cg-{ids['tag']}" in page.text_content("svg.gantt")
    page.screenshot(path=str(artifacts / "dashboard-plan.png"))

    page.click("nav [data-view=alerts]")
    with psycopg.connect(settings.db().conninfo()) as conn:
        at = datetime.now(UTC)
        raised = store.apply_candidate(conn, AlertCandidate(
            home_id=ids["home"], resident_id=ids["resident"], kind=AlertKind.FALL, severity=Severity.CRITICAL,
            started_at=at, detected_at=at, evidence={}, reason_zh="跌倒", reason_en="fall"),
            station_id=ids["station"])  # fmt: skip
        assert raised is not None
        conn.commit()
    card = f"[data-alert='{raised.alert_id}']"
    page.click(f"{card} [data-act=assign]")
    page.click(f"{card} [data-send='cg-{ids['tag']}']")  # the suggestion, nearest on shift
    page.wait_for_selector(f"{card} .status:has-text('已指派')")
    with psycopg.connect(settings.db().conninfo()) as conn:
        row = conn.execute(
            "SELECT preferred_caregiver, urgent FROM task WHERE alert_id = %s", (raised.alert_id,)
        ).fetchone()
    assert row == (f"cg-{ids['tag']}", True)  # one urgent task for the planner
    page.screenshot(path=str(artifacts / "dashboard-assigned.png"))
    page.click("nav [data-view=kpis]")
    page.wait_for_selector("#kpis svg.bars rect")
    assert ids["station"] in (page.text_content("#kpis") or "")
    page.screenshot(path=str(artifacts / "dashboard-kpis.png"))
    ctx.close()
