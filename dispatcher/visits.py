"""A caregiver's day on the phone: their visits in the current plans, check-in and check-out (idempotent)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal, LiteralString

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from devices.errors import ConflictError, NotFoundError
from dispatcher.errors import InvalidProblem
from monitor import live

Action = Literal["check-in", "check-out", "accept", "decline"]
CLOCK_SKEW = timedelta(minutes=10)  # a phone's clock may run ahead; further than this is refused

# The caregiver's visits in the current (highest) version of each station-day plan, plus tasks they checked
# in on that a later full re-plan no longer lists (a started visit is never taken off the phone).
VISITS = """
WITH cur AS (
    SELECT DISTINCT ON (station_id, day) id FROM plan WHERE day = %(day)s ORDER BY station_id, day, version DESC
), mine AS (
    SELECT v.task_id, v.planned_start, v.planned_end, v.partner FROM visit v
    WHERE v.plan_id IN (SELECT id FROM cur) AND v.caregiver_id = %(cg)s
    UNION ALL
    SELECT t.id, coalesce(t.started_at, t.window_start), coalesce(t.done_at, t.window_end), NULL FROM task t
    WHERE t.day = %(day)s AND t.id IN (SELECT task_id FROM visit_action
                                       WHERE caregiver_id = %(cg)s AND action IN ('check-in', 'check-out'))
      AND t.id NOT IN (SELECT v.task_id FROM visit v WHERE v.plan_id IN (SELECT id FROM cur)
                                                       AND v.caregiver_id = %(cg)s)
)
SELECT m.task_id::text AS task_id, t.kind, m.planned_start, m.planned_end, t.status, t.urgent, m.partner,
       t.home_id, r.id AS resident_id, r.name AS resident_name, h.address, h.access_notes,
       coalesce(r.care_notes, '') AS care_notes, h.lat, h.lon, t.alert_id, t.notes, t.problem,
       EXISTS (SELECT 1 FROM visit_action a WHERE a.task_id = t.id AND a.caregiver_id = %(cg)s
                                              AND a.action = 'accept') AS accepted
FROM mine m JOIN task t ON t.id = m.task_id JOIN home h ON h.id = t.home_id
LEFT JOIN LATERAL (SELECT id, name, care_notes FROM resident WHERE home_id = t.home_id ORDER BY id LIMIT 1) r
       ON true
WHERE t.status <> 'cancelled'
ORDER BY m.planned_start, m.task_id
"""


class VisitAction(BaseModel):
    """What the phone sends: where and when, and on check-out the notes and a problem flag."""

    model_config = ConfigDict(extra="forbid")
    client_action_id: str = Field(min_length=8, max_length=64)
    at: datetime | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    notes: str = Field(default="", max_length=4000)
    problem: bool = False


def visits_for_caregiver(conn: psycopg.Connection[Any], caregiver_id: str, day: date) -> list[dict[str, Any]]:
    """The caregiver's visits of ``day`` in order."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(VISITS, {"day": day, "cg": caregiver_id}).fetchall()


def _mine(conn: psycopg.Connection[Any], caregiver_id: str, task_id: int) -> dict[str, Any]:
    """The task if it is one of the caregiver's (in a current plan or already checked in), else NotFound."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM task WHERE id = %s FOR UPDATE", (task_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no visit {task_id}")
        ids = {r["task_id"] for r in cur.execute(VISITS, {"day": row["day"], "cg": caregiver_id}).fetchall()}
    if str(task_id) not in ids:
        raise NotFoundError(f"no visit {task_id}")
    return row


def record(
    conn: psycopg.Connection[Any],
    caregiver_id: str,
    task_id: int,
    action: Action,
    body: VisitAction,
    now: datetime,
) -> dict[str, Any]:
    """Apply a check-in, check-out, or the answer to an urgent job once per ``client_action_id``.

    A retry of an action already applied returns the same state; a check-in of a visit already started,
    a check-out of one not started, or declining a job already started is a conflict (409). Declining
    puts the job back to the planner, which will not give it to her again.
    """
    at = body.at or now
    if at.tzinfo is None:
        raise InvalidProblem("'at' must carry a time zone offset")
    if at > now + CLOCK_SKEW:
        raise InvalidProblem(
            f"'at' is {at - now} ahead of the server's clock ({at.isoformat()}): the phone's clock runs fast",
            code="clock_ahead",
        )
    with conn.transaction():
        seen = conn.execute(
            "SELECT task_id, caregiver_id, action FROM visit_action WHERE client_action_id = %s",
            (body.client_action_id,),
        ).fetchone()
        if seen is not None:
            if seen != (task_id, caregiver_id, action):
                raise ConflictError(
                    "client_action_id was already used for another action", code="action_id_reused"
                )
            with conn.cursor(row_factory=dict_row) as cur:
                again = cur.execute("SELECT * FROM task WHERE id = %s", (task_id,)).fetchone()
            assert again is not None  # visit_action references the task
            return _state(again, replay=True)
        row = _mine(conn, caregiver_id, task_id)
        update = _transition(row, action)
        with conn.cursor(row_factory=dict_row) as cur:
            updated = cur.execute(
                update,
                {"at": at, "cg": caregiver_id, "notes": body.notes, "problem": body.problem, "id": task_id},
            ).fetchone()
        assert updated is not None
        row = updated
        if action == "decline":  # the planner finds someone else (never her) for this job
            conn.execute("SELECT pg_notify('urgent_task', %s)", (str(task_id),))
        conn.execute(
            "INSERT INTO visit_action (client_action_id, task_id, caregiver_id, action, at, lat, lon)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (body.client_action_id, task_id, caregiver_id, action, at, body.lat, body.lon),
        )
        live.publish(
            conn, topic="task", subject_id=str(task_id), station_id=row["station_id"], home_id=row["home_id"],
            body={"task_id": task_id, "status": row["status"], "caregiver_id": caregiver_id, "action": action,
                  "at": at.isoformat(), "problem": row["problem"], "alert_id": row["alert_id"]},
        )  # fmt: skip
        return _state(row, replay=False)


def _transition(row: dict[str, Any], action: Action) -> LiteralString:
    """The UPDATE for ``action`` on the task ``row``; ConflictError when its status does not allow it."""
    status, task_id = row["status"], row["id"]
    if action in ("accept", "decline"):
        if not row["urgent"]:
            raise ConflictError(
                f"visit {task_id} is not an urgent job: nothing to {action}", code="not_urgent"
            )
        if status not in ("pending", "planned"):
            raise ConflictError(f"visit {task_id} is {status}: too late to {action}", code="bad_state")
        if action == "accept":
            return "SELECT * FROM task WHERE id = %(id)s"
        return (
            "UPDATE task SET status = 'pending', declined_by = array_append(declined_by, %(cg)s),"
            " preferred_caregiver = NULLIF(preferred_caregiver, %(cg)s), replanned_at = NULL"
            " WHERE id = %(id)s RETURNING *"
        )
    if action == "check-in":
        if status not in ("pending", "planned"):
            raise ConflictError(f"visit {task_id} is {status}: cannot check in", code="bad_state")
        return "UPDATE task SET status = 'started', started_at = %(at)s WHERE id = %(id)s RETURNING *"
    if status != "started":
        raise ConflictError(f"visit {task_id} is {status}: check in first", code="bad_state")
    return (
        "UPDATE task SET status = 'done', done_at = %(at)s, done_by = %(cg)s, notes = %(notes)s,"
        " problem = %(problem)s WHERE id = %(id)s RETURNING *"
    )


def _state(row: dict[str, Any], *, replay: bool) -> dict[str, Any]:
    return {
        "task_id": str(row["id"]), "status": row["status"], "started_at": row["started_at"],
        "done_at": row["done_at"], "problem": row["problem"], "replay": replay,
    }  # fmt: skip
