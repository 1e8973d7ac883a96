"""The planner's Prometheus metrics (names kept from the first planner: dashboards and tests read them)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class PlannerMetrics:
    replans: Counter  # by outcome: placed, unassigned, already_planned, not_found, failed
    replan_seconds: Histogram
    bad_notifications: Counter
    reconnects: Counter
    db_connected: Gauge
    retry_backlog: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> PlannerMetrics:
        """One set per registry (tests pass their own, so that two planners in one process do not clash)."""
        return cls(
            replans=Counter(
                "eldercare_planner_replans", "urgent re-plans by outcome", ["outcome"], registry=registry
            ),
            replan_seconds=Histogram(
                "eldercare_planner_replan_seconds",
                "time of one re-plan, solve and save included",
                registry=registry,
            ),
            bad_notifications=Counter(
                "eldercare_planner_bad_notifications",
                "urgent_task notifications whose payload is not a task id",
                registry=registry,
            ),
            reconnects=Counter(
                "eldercare_planner_db_reconnects", "database (re)connections after a loss", registry=registry
            ),
            db_connected=Gauge(
                "eldercare_planner_db_connected", "1 while listening on the database", registry=registry
            ),
            retry_backlog=Gauge(
                "eldercare_planner_retry_backlog",
                "tasks whose re-plan failed and waits for a retry",
                registry=registry,
            ),
        )
