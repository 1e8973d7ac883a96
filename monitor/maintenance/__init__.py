"""Retention, the hourly activity rollup, the residents' baselines and dead-letter retention, run by the platform
itself (``eldercare maintain``).

The Apache-2 TimescaleDB build has no background policies or continuous aggregates, so ``eldercare maintain``
runs these on a timer (``run``). With the community licence, retention is delegated to Timescale's own policy.
"""

from __future__ import annotations

from monitor.maintenance.dead_letters import purge_dead_letters
from monitor.maintenance.jobs import (
    DEAD_LETTER_KEEP,
    ROLLUP_SQL,
    MaintenanceResult,
    apply_retention,
    licence,
    rollup,
    run_once,
)

__all__ = [
    "DEAD_LETTER_KEEP",
    "ROLLUP_SQL",
    "MaintenanceResult",
    "apply_retention",
    "licence",
    "purge_dead_letters",
    "rollup",
    "run_once",
]
