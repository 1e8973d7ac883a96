"""``eldercare planner``: the planner loop in a watched thread of the one process skeleton, until SIGTERM/SIGINT."""

from __future__ import annotations

import logging

from devices.settings import DbSettings
from dispatcher.planner.loop import Planner
from dispatcher.planner.metrics import PlannerMetrics
from dispatcher.planner.retry import RetryPolicy
from monitor.process import Process

log = logging.getLogger("eldercare.planner")


def run(
    db: DbSettings | str,
    *,
    time_limit_s: float = 2.0,
    metrics_port: int | None = None,
    retry: RetryPolicy | None = None,
) -> None:
    """Serve until a stop (returns) or a fault (raises ``ProcessFault``: exit code 70).

    A lost database is not a fault: the loop reconnects and ``/readyz`` says so meanwhile.
    """
    conninfo = db if isinstance(db, str) else db.conninfo()
    proc = Process("planner", log=log)
    proc.install_signals()
    planner = Planner(
        conninfo, stop=proc.stop, metrics=PlannerMetrics.create(), time_limit_s=time_limit_s, retry=retry
    )
    proc.serve_health(metrics_port, planner.readiness)
    thread = proc.spawn(planner.run, "planner-loop")
    proc.wait()
    thread.join(time_limit_s + 15)  # a re-plan in progress finishes (solve, save) before we close
    log.info("planner stopped")
