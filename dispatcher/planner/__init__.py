"""The planner process: urgent tasks re-planned the moment staff send someone (``run``), outliving database
outages (``loop``), with failed re-plans retried under a budget (``retry``)."""

from __future__ import annotations

from dispatcher.planner.run import run

__all__ = ["run"]
