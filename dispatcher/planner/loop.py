"""The planner's loop: LISTEN ``urgent_task``, re-plan each notified task, and outlive database outages.

Two connections: one only LISTENs, the other does the work (a re-plan holds the station-day's advisory lock in
its own transaction). When either is lost, both are dropped and reopened with backoff. Notifications sent while
the planner was not listening are gone, so every (re)connect first re-scans the pending urgent tasks
(``pending_urgent``: those never tried since they were created, re-assigned or declined) and places them; the
same scan runs every ``rescan_s`` as a safety net. Errors of one notification or one task stay there: a payload
that is not a task id is counted and logged, a re-plan that raises is counted, logged and retried later
(``RetryBook``). Only a lost connection leaves a task's attempt, and the re-scan after reconnecting takes it up.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from devices.errors import NotFoundError
from dispatcher.plan_store import StoredPlan
from dispatcher.planner.metrics import PlannerMetrics
from dispatcher.planner.notification import BadNotification, parse_task_id
from dispatcher.planner.retry import RetryBook, RetryPolicy
from dispatcher.records import DEFAULT_TZ
from dispatcher.service import URGENT_CHANNEL, pending_urgent, replan_for_task

log = logging.getLogger("eldercare.planner")

Replan = Callable[[psycopg.Connection[Any], int, datetime], StoredPlan | None]
Conn = psycopg.Connection[Any]

# TCP keepalives: a silently vanished server (a cut network, not a restart) is noticed within ~25 s
CONNECT_KW: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: ``first_s`` doubling up to ``max_s``, ±20 % jitter so that planners do not stampede."""

    first_s: float = 0.5
    max_s: float = 15.0

    def delay(self, failures: int) -> float:
        base = min(self.max_s, self.first_s * 2.0 ** max(0, failures - 1))
        return base * random.uniform(0.8, 1.2)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


class Planner:
    """The loop and its state; :meth:`run` is the body of a watched thread, :meth:`readiness` serves /readyz."""

    def __init__(
        self,
        conninfo: str,
        *,
        stop: threading.Event,
        metrics: PlannerMetrics,
        time_limit_s: float = 2.0,
        retry: RetryPolicy | None = None,
        reconnect: Backoff | None = None,
        rescan_s: float = 60.0,
        replan: Replan | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.stop = stop
        self.metrics = metrics
        self.book = RetryBook(retry)
        self.reconnect = reconnect or Backoff()
        self.rescan_s = rescan_s
        self.replan: Replan = replan or (
            lambda conn, task_id, now: replan_for_task(conn, task_id, now, time_limit_s=time_limit_s)
        )
        self.listening = False
        self.status = "connecting to the database"
        self._next_rescan = 0.0

    def readiness(self) -> tuple[bool, str]:
        return (True, "listening") if self.listening else (False, self.status)

    # -- connections ----------------------------------------------------------------------------------
    def run(self) -> None:
        """Until a stop: connect, catch up, listen; after a lost connection, reconnect with backoff."""
        failures = 0
        while not self.stop.is_set():
            try:
                with (
                    psycopg.connect(self.conninfo, autocommit=True, **CONNECT_KW) as listen,
                    psycopg.connect(self.conninfo, autocommit=True, **CONNECT_KW) as work,
                ):
                    listen.execute(f"LISTEN {URGENT_CHANNEL}")
                    self.status = "connected: catching up on pending urgent tasks"
                    self._rescan(work)  # what was notified while we were not listening
                    self._ready(failures)
                    failures = 0
                    self._serve(listen, work)
            except psycopg.Error as exc:  # a lost connection: errors of one task are handled in _attempt
                self._lost()
                failures += 1
                wait = self.reconnect.delay(failures)
                self.status = (
                    f"database unreachable: reconnecting (attempt {failures}, next in {wait:.1f} s): "
                    f"{_first_line(exc)}"
                )
                log.warning("%s", self.status)
                self.stop.wait(wait)
        self._lost()

    def _ready(self, failures: int) -> None:
        self.listening = True
        self.status = "listening"
        self.metrics.db_connected.set(1)
        if failures:
            self.metrics.reconnects.inc()
            log.info("planner ready (reconnected after %d failed attempts)", failures)
        else:
            log.info("planner ready")

    def _lost(self) -> None:
        self.listening = False
        self.metrics.db_connected.set(0)

    # -- the loop -------------------------------------------------------------------------------------
    def _serve(self, listen: Conn, work: Conn) -> None:
        while not self.stop.is_set():
            # stop_after=1: back as soon as something arrives, and never inside the generator while solving
            for note in list(listen.notifies(timeout=1.0, stop_after=1)):
                self.on_notification(work, note.payload)
            for task_id in self.book.due(time.monotonic()):
                self._try(work, task_id)
            if time.monotonic() >= self._next_rescan:
                self._rescan(work)

    def _rescan(self, work: Conn) -> None:
        for task_id in pending_urgent(work, datetime.now(DEFAULT_TZ).date()):
            if self.stop.is_set():
                return
            self._try(work, task_id)
        self._next_rescan = time.monotonic() + self.rescan_s

    def on_notification(self, work: Conn, payload: str) -> None:
        """One notification's error boundary: a bad payload is counted and logged, never raised."""
        try:
            task_id = parse_task_id(payload)
        except BadNotification as exc:
            self.metrics.bad_notifications.inc()
            log.warning("ignored urgent_task notification: %s", exc)
            return
        self._try(work, task_id)

    def _try(self, work: Conn, task_id: int) -> None:
        if self.book.may_try(task_id, time.monotonic()):
            self._attempt(work, task_id)
            self.metrics.retry_backlog.set(len(self.book))
        self._say_if_exhausted(task_id)

    def _say_if_exhausted(self, task_id: int) -> None:
        if self.book.exhausted(task_id, time.monotonic()):  # true once per exhaustion
            log.warning(
                "re-plan of task_id=%s deferred: %d failed tries in the last hour; tried again when the oldest "
                "is an hour old", task_id, self.book.policy.per_hour,
            )  # fmt: skip

    def _attempt(self, work: Conn, task_id: int) -> None:
        started, began = time.monotonic(), time.perf_counter()
        try:
            stored = self.replan(work, task_id, datetime.now(DEFAULT_TZ))
        except NotFoundError:
            self.book.forget(task_id)
            self.metrics.replans.labels("not_found").inc()
            log.warning("re-plan skipped task_id=%s: no such task", task_id)
            return
        except Exception as exc:
            if isinstance(exc, psycopg.Error) and (work.broken or work.closed):
                raise  # the connection is gone: reconnect; the task is still pending and the re-scan takes it
            wait = self.book.failed(task_id, started)
            self.metrics.replans.labels("failed").inc()
            log.exception("re-plan failed task_id=%s: retried in %.1f s at the earliest", task_id, wait)
            return
        self.book.forget(task_id)
        self.metrics.replan_seconds.observe(time.perf_counter() - began)
        self._report(task_id, stored)

    def _report(self, task_id: int, stored: StoredPlan | None) -> None:
        if stored is None:
            log.info("task_id=%s already planned", task_id)
            self.metrics.replans.labels("already_planned").inc()
            return
        placed = [u for u in stored.plan.unassigned if u.task_id == str(task_id)]
        self.metrics.replans.labels("unassigned" if placed else "placed").inc()
        log.info("re-planned task_id=%s version=%s %s", task_id, stored.version,
                 f"unassigned: {placed[0].reason}" if placed else "placed")  # fmt: skip
