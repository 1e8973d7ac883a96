"""``eldercare maintain``: one maintenance pass every ``interval_s`` in a watched thread, until SIGTERM/SIGINT.

Each pass opens its own connection, so a database outage fails that pass (counted, logged) and the next one
simply tries again; ``/readyz`` turns false only when no pass has succeeded for three intervals.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from devices.settings import DbSettings
from monitor.maintenance.jobs import DEAD_LETTER_KEEP, MaintenanceResult, run_once
from monitor.process import Process

log = logging.getLogger("eldercare.maintain")


@dataclass(frozen=True)
class MaintainConfig:
    keep: timedelta = timedelta(days=90)  # readings
    dead_letter_keep: timedelta = DEAD_LETTER_KEEP
    interval_s: float = 300.0
    baselines: int = 200  # residents relearned per pass at most
    rollup_window: timedelta = timedelta(hours=3)


@dataclass(frozen=True)
class MaintainMetrics:
    runs: Counter
    last_success: Gauge
    dead_letters_deleted: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> MaintainMetrics:
        return cls(
            runs=Counter(
                "eldercare_maintenance_runs", "maintenance passes by outcome", ["outcome"], registry=registry
            ),
            last_success=Gauge(
                "eldercare_maintenance_last_success_timestamp",
                "unix time of the last good pass",
                registry=registry,
            ),
            dead_letters_deleted=Counter(
                "eldercare_maintenance_dead_letters_deleted",
                "dead letters deleted by retention",
                registry=registry,
            ),
        )


def once(db: DbSettings | str, cfg: MaintainConfig, *, now: datetime | None = None) -> MaintenanceResult:
    """One pass on a connection of its own (``eldercare maintain --once``); database errors are raised."""
    conninfo = db if isinstance(db, str) else db.conninfo()
    with psycopg.connect(conninfo) as conn:
        return run_once(
            conn,
            keep=cfg.keep,
            now=now or datetime.now(UTC),
            rollup_window=cfg.rollup_window,
            baselines=cfg.baselines,
            dead_letter_keep=cfg.dead_letter_keep,
        )


class _Loop:
    """The passes and the freshness that readiness reports."""

    def __init__(self, conninfo: str, cfg: MaintainConfig, proc: Process, metrics: MaintainMetrics) -> None:
        self.conninfo, self.cfg, self.proc, self.metrics = conninfo, cfg, proc, metrics
        self.ok_at = time.time()  # starting counts as fresh until the first pass

    def readiness(self) -> tuple[bool, str]:
        stale = 3 * self.cfg.interval_s  # ready while passes keep succeeding
        if time.time() - self.ok_at < stale:
            return True, "ready"
        return False, f"no successful pass in {stale:.0f} s"

    def one_pass(self) -> None:
        """A pass's error boundary: a failed pass is counted and logged, and the next one tries again."""
        try:
            result = once(self.conninfo, self.cfg)
        except psycopg.Error as exc:
            self.metrics.runs.labels("failed").inc()
            log.warning(
                "maintenance pass failed: %s", (str(exc).strip() or type(exc).__name__).splitlines()[0]
            )
        except Exception:  # a bug in one job must not stop retention for good; the traceback says where
            self.metrics.runs.labels("failed").inc()
            log.exception("maintenance pass failed")
        else:
            self.metrics.runs.labels("ok").inc()
            self.metrics.dead_letters_deleted.inc(result.dead_letters_deleted)
            self.metrics.last_success.set_to_current_time()
            self.ok_at = time.time()

    def run(self) -> None:
        while not self.proc.stop.is_set():
            self.one_pass()
            self.proc.stop.wait(self.cfg.interval_s)


def run(db: DbSettings | str, cfg: MaintainConfig, *, metrics_port: int | None = None) -> None:
    """Serve until a stop (returns) or a fault (raises ``ProcessFault``: exit code 70)."""
    conninfo = db if isinstance(db, str) else db.conninfo()
    proc = Process("maintain", log=log)
    proc.install_signals()
    loop = _Loop(conninfo, cfg, proc, MaintainMetrics.create())
    proc.serve_health(metrics_port, loop.readiness)
    thread = proc.spawn(loop.run, "maintain-loop")
    proc.wait()
    thread.join(30)  # a pass in progress may finish; one that does not is rolled back when we exit
    log.info("maintain stopped")
