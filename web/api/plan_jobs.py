"""Run-plan jobs: a station-day solve (up to two minutes) in a worker thread with its own connection.

The API's pool serves the dashboard's quick reads; a solve holding one of its connections for the whole
time limit would stall the board after a few clicks. So ``POST /stations/{id}/plan`` starts a job here and
answers 202 at once; the page polls the job for its progress lines and the version it stored. At most
``MAX_RUNNING`` solves run at a time in one API process (the machine's cores); a second request for a
station-day whose job is still running gets that job back instead of a second solve.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

import psycopg

from dispatcher.service import plan_day

log = logging.getLogger(__name__)
MAX_RUNNING = 2
KEEP = 200  # finished jobs remembered for polling
State = Literal["queued", "running", "done", "failed"]


@dataclass
class PlanJob:
    id: str
    station_id: str
    day: date
    time_limit_s: float
    user_id: int | None
    state: State = "queued"
    progress: list[str] = field(default_factory=list)
    version: int | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class PlanJobs:
    """The process's run-plan jobs (kept in memory: a job lives for one solve and a few polls)."""

    def __init__(
        self, conninfo: str, clock: Callable[[], datetime], *, max_running: int = MAX_RUNNING
    ) -> None:
        self.conninfo = conninfo
        self.clock = clock
        self._slots = threading.BoundedSemaphore(max_running)
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, PlanJob] = OrderedDict()

    def start(self, station_id: str, day: date, time_limit_s: float, user_id: int | None) -> PlanJob:
        """A new job for the station-day, or the one still queued or running for it."""
        with self._lock:
            for job in self._jobs.values():
                if job.station_id == station_id and job.day == day and job.state in ("queued", "running"):
                    return job
            job = PlanJob(uuid.uuid4().hex, station_id, day, time_limit_s, user_id)
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                oldest = next(iter(self._jobs.values()))
                if oldest.state in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
        threading.Thread(target=self._run, args=(job,), name=f"plan-{station_id}-{day}", daemon=True).start()
        return job

    def get(self, job_id: str) -> PlanJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: PlanJob) -> None:
        with self._slots:
            job.state, job.started_at = "running", self.clock()
            try:
                with psycopg.connect(self.conninfo) as conn:  # its own connection, never the API pool's
                    stored = plan_day(
                        conn, job.station_id, job.day, time_limit_s=job.time_limit_s,
                        progress=job.progress.append, now=self.clock(),
                    )  # fmt: skip
                job.version, job.state = stored.version, "done"
            except Exception as exc:  # reported to the page; the station-day keeps its current plan
                log.exception("plan job %s failed (%s %s)", job.id, job.station_id, job.day)
                job.error, job.state = str(exc) or type(exc).__name__, "failed"
            finally:
                job.finished_at = self.clock()
