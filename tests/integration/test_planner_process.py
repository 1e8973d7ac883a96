"""The planner outlives the database: `eldercare planner` as a real process through a PostgreSQL restart, and the
loop's error boundaries (bad payloads, failing re-plans retried under a budget) in-process on the real database."""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import CollectorRegistry

from dispatcher.plan_store import StoredPlan
from dispatcher.planner.loop import Backoff, Planner
from dispatcher.planner.metrics import PlannerMetrics
from dispatcher.planner.retry import RetryPolicy
from dispatcher.service import URGENT_DURATION_MIN, URGENT_WINDOW, create_urgent_task, replan_for_task
from tests.integration.test_dispatch import Station, alert_for, build, today
from tests.support import CliProcess, count, skip_near_local_midnight, wait_until
from web.settings import Settings
from web.stack import postgres
from web.stack.postgres import PgPaths
from web.stack.proc import run_as_user

pytestmark = pytest.mark.db


def _silent_urgent_task(db: psycopg.Connection, st: Station, home: str) -> int:
    """An urgent task whose notification was missed (as if sent while the planner was not listening): the
    row of ``create_urgent_task`` without its NOTIFY."""
    now, alert_id = today(), alert_for(db, home, st.id)
    row = db.execute(
        """INSERT INTO task (station_id, home_id, day, kind, duration_min, window_start, window_end, priority,
                             urgent, source, source_id, alert_id)
           VALUES (%s, %s, %s, 'emergency', %s, %s, %s, 5, true, 'alert', %s, %s) RETURNING id""",
        (st.id, home, now.date(), URGENT_DURATION_MIN, now, now + URGENT_WINDOW, str(alert_id), alert_id),
    ).fetchone()
    assert row is not None
    db.commit()
    return int(row[0])


def _metric(base: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+]+)$", httpx.get(base + "/metrics").text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _readyz(base: str) -> tuple[int, str]:
    try:
        r = httpx.get(base + "/readyz", timeout=2)
    except httpx.HTTPError as exc:
        return 0, str(exc)
    return r.status_code, r.text


def test_planner_survives_a_database_restart_and_catches_up(
    db: psycopg.Connection, settings: Settings, stack_dir: Path, tmp_path: Path
) -> None:
    skip_near_local_midnight()
    st = build(db, plans=False)
    db.commit()
    planner = CliProcess(
        ["planner", "--dir", str(settings.stack_dir), "--metrics-port", "0", "--time-limit", "0.5"],
        tmp_path / "planner.log",
        "planner ready",
    )
    try:
        port = re.search(r"http://127.0.0.1:(\d+)/metrics", planner.log())
        assert port is not None
        base = f"http://127.0.0.1:{port.group(1)}"
        assert _readyz(base) == (200, "listening\n")

        # one bad notification: counted and logged, the loop goes on
        db.execute("SELECT pg_notify('urgent_task', 'DROP TABLE task')")
        db.commit()
        assert wait_until(lambda: _metric(base, "eldercare_planner_bad_notifications_total") == 1, 10)
        assert "ignored urgent_task notification: not a task id: 'DROP TABLE task'" in planner.log()

        # a task whose notification the planner never saw: nothing places it until the planner re-scans
        missed = _silent_urgent_task(db, st, st.homes[1])
        time.sleep(1.5)
        assert f"re-planned task_id={missed} " not in planner.log()

        db.close()
        pg = PgPaths(stack_dir / "pg")
        postgres.stop(pg, user=run_as_user())
        try:
            assert wait_until(lambda: _readyz(base)[0] == 503, 20), planner.log()
            _code, why = _readyz(base)
            assert why.startswith("database unreachable: reconnecting (attempt "), why
            assert _metric(base, "eldercare_planner_db_connected") == 0
            time.sleep(2)  # a few reconnect attempts fail
            assert planner.proc.poll() is None, planner.log()
        finally:
            postgres.start(pg, user=run_as_user())
        assert wait_until(lambda: _readyz(base) == (200, "listening\n"), 40), planner.log()
        assert planner.proc.poll() is None  # the same process: not restarted
        log = planner.log()
        assert "planner ready (reconnected after" in log
        # placed by the re-scan on reconnecting (the periodic one is 60 s away), after the outage began
        assert f"re-planned task_id={missed} " in log
        assert log.index(f"re-planned task_id={missed} ") > log.index("database unreachable: reconnecting")
        assert _metric(base, "eldercare_planner_db_reconnects_total") >= 1
        assert _metric(base, "eldercare_planner_db_connected") == 1

        # and new urgent tasks are placed live again
        with psycopg.connect(settings.db().conninfo()) as conn:
            live = create_urgent_task(conn, home_id=st.homes[2], alert_id=alert_for(conn, st.homes[2], st.id),
                                      now=today())  # fmt: skip
            conn.commit()
            assert wait_until(lambda: f"re-planned task_id={live} " in planner.log(), 30), planner.log()
            for task_id in (missed, live):
                assert (
                    count(conn, "SELECT count(*) FROM task WHERE id = %s AND status = 'planned'", task_id)
                    == 1
                )
        assert planner.proc.poll() is None
    finally:
        assert planner.stop() == 0, planner.log()
    assert "planner stopped" in planner.log()


class Flaky:
    """The real re-plan, except that chosen tasks fail: ``fail_first`` of them that many times, ``always``
    every time."""

    def __init__(self, fail_first: dict[int, int], always: set[int]) -> None:
        self.fail_first, self.always = fail_first, always
        self.calls: list[tuple[int, float]] = []
        self.lock = threading.Lock()

    def __call__(self, conn: psycopg.Connection[Any], task_id: int, now: datetime) -> StoredPlan | None:
        with self.lock:
            self.calls.append((task_id, time.monotonic()))
            left = self.fail_first.get(task_id, 0)
            if left:
                self.fail_first[task_id] = left - 1
        if left or task_id in self.always:
            raise RuntimeError(f"solver exploded on task {task_id}")
        return replan_for_task(conn, task_id, now, time_limit_s=0.5)

    def tries(self, task_id: int) -> list[float]:
        with self.lock:
            return [t for i, t in self.calls if i == task_id]


def test_failed_replans_are_retried_with_backoff_within_a_budget(
    db: psycopg.Connection, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    skip_near_local_midnight()
    caplog.set_level(logging.INFO, logger="eldercare.planner")
    st = build(db, plans=False)
    db.commit()
    flaky_task = create_urgent_task(db, home_id=st.homes[1], alert_id=alert_for(db, st.homes[1], st.id),
                                    now=today())  # fmt: skip
    doomed_task = create_urgent_task(db, home_id=st.homes[2], alert_id=alert_for(db, st.homes[2], st.id),
                                     now=today())  # fmt: skip
    db.commit()
    replan = Flaky({flaky_task: 2}, {doomed_task})
    registry = CollectorRegistry()
    stop = threading.Event()
    planner = Planner(
        settings.db().conninfo(), stop=stop, metrics=PlannerMetrics.create(registry),
        retry=RetryPolicy(first_s=0.3, factor=2, max_s=1, per_hour=3), reconnect=Backoff(0.1, 0.5),
        replan=replan,
    )  # fmt: skip
    thread = threading.Thread(target=planner.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: f"re-planned task_id={flaky_task} " in caplog.text, 30), caplog.text
        tries = replan.tries(flaky_task)
        assert len(tries) == 3  # failed, failed, placed
        assert tries[1] - tries[0] >= 0.3 * 0.99  # backoff, not a tight loop
        assert tries[2] - tries[1] >= 0.6 * 0.99
        assert count(db, "SELECT count(*) FROM task WHERE id = %s AND status = 'planned'", flaky_task) == 1

        deferred = f"re-plan of task_id={doomed_task} deferred: 3 failed tries in the last hour"
        assert wait_until(lambda: deferred in caplog.text, 30), caplog.text
        time.sleep(1.5)  # long past every backoff: still no fourth try within the hour
        assert len(replan.tries(doomed_task)) == 3
        assert caplog.text.count(deferred) == 1  # said once, not every second
        assert count(db, "SELECT count(*) FROM task WHERE id = %s AND status = 'pending'", doomed_task) == 1

        db.execute("SELECT pg_notify('urgent_task', '١٢')")  # Arabic-Indic digits: not a task id
        db.execute("SELECT pg_notify('urgent_task', '999999999999')")  # no such task
        db.commit()
        assert wait_until(
            lambda: registry.get_sample_value("eldercare_planner_bad_notifications_total") == 1, 10
        )
        assert wait_until(
            lambda: (
                registry.get_sample_value("eldercare_planner_replans_total", {"outcome": "not_found"}) == 1
            ),
            10,
        )
        assert registry.get_sample_value("eldercare_planner_replans_total", {"outcome": "failed"}) == 2 + 3
        assert registry.get_sample_value("eldercare_planner_replans_total", {"outcome": "placed"}) >= 1  # type: ignore[operator]
        assert registry.get_sample_value("eldercare_planner_retry_backlog") == 1  # the doomed task
        assert thread.is_alive()
        assert planner.readiness() == (True, "listening")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
