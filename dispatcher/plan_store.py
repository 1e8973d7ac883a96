"""Versioned plans: every solve or re-plan is stored as a new version with its visits; the highest is current."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from dispatcher.records import Horizon
from dispatcher.scheduling.problem import Plan, PlanDiff
from monitor import live


@dataclass(frozen=True, slots=True)
class StoredPlan:
    id: int
    version: int
    plan: Plan


def lock(conn: psycopg.Connection[Any], station_id: str, day: date) -> None:
    """Serialise the plan writers of one station-day until the transaction ends (re-entrant per session)."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('plan:' || %s || ':' || %s::text))", (station_id, day)
    )


def current(conn: psycopg.Connection[Any], station_id: str, day: date) -> StoredPlan | None:
    """The latest plan of a station-day, if any."""
    row = conn.execute(
        "SELECT id, version, body FROM plan WHERE station_id = %s AND day = %s ORDER BY version DESC LIMIT 1",
        (station_id, day),
    ).fetchone()
    if row is None:
        return None
    return StoredPlan(row[0], row[1], Plan.model_validate(row[2]))


def save(
    conn: psycopg.Connection[Any],
    station_id: str,
    horizon: Horizon,
    plan: Plan,
    *,
    reason: str = "plan",
    diff: PlanDiff | None = None,
) -> StoredPlan:
    """Store ``plan`` as the next version (row-locked per station-day), its visits, and task statuses.

    Tasks in a route become ``planned`` (unless started or done); pending tasks the plan left out stay
    ``pending`` and keep their reason in the plan body. A task ``planned`` that this version no longer holds
    goes back to ``pending`` (an urgent one also to the planner: ``NOTIFY urgent_task``), so a task is planned
    exactly when the current plan holds it. Publishes a ``plan`` live event.
    """
    lock(conn, station_id, horizon.day)
    row = conn.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM plan WHERE station_id = %s AND day = %s",
        (station_id, horizon.day),
    ).fetchone()
    version = int(row[0]) if row else 1
    plan = plan.model_copy(update={"version": version})
    plan_id = conn.execute(
        "INSERT INTO plan (station_id, day, version, status, reason, body, diff) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id",
        (
            station_id, horizon.day, version, plan.status.value, reason, Jsonb(plan.model_dump(mode="json")),
            Jsonb(diff.model_dump(mode="json")) if diff else None,
        ),
    ).fetchone()[0]  # type: ignore[index]  # fmt: skip
    visits = [
        (
            plan_id,
            int(v.task_id),
            r.caregiver_id,
            seq,
            horizon.at(v.eta),
            horizon.at(v.start),
            horizon.at(v.end),
            v.partner,
        )
        for r in plan.routes
        for seq, v in enumerate(r.visits)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO visit (plan_id, task_id, caregiver_id, seq, eta, planned_start, planned_end, partner)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            visits,
        )
    held = sorted({v[1] for v in visits})
    conn.execute("UPDATE task SET status = 'planned' WHERE id = ANY(%s) AND status = 'pending'", (held,))
    dropped = conn.execute(
        "UPDATE task SET status = 'pending', replanned_at = CASE WHEN urgent THEN NULL ELSE replanned_at END"
        " WHERE station_id = %s AND day = %s AND status = 'planned' AND NOT id = ANY(%s) RETURNING id, urgent",
        (station_id, horizon.day, held),
    ).fetchall()
    for task_id, urgent in dropped:
        if urgent:  # the planner places it again (into this version, once this transaction commits)
            conn.execute("SELECT pg_notify('urgent_task', %s)", (str(task_id),))
    live.publish(
        conn, topic="plan", subject_id=f"{station_id}/{horizon.day}/{version}", station_id=station_id,
        body={"station_id": station_id, "day": horizon.day.isoformat(), "version": version,
              "status": plan.status.value, "reason": reason, "visits": len(visits),
              "unassigned": len(plan.unassigned), "diff": diff.model_dump(mode="json") if diff else None},
    )  # fmt: skip
    return StoredPlan(plan_id, version, plan)
