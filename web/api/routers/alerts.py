"""Alerts: the live board's list, detail with history, acknowledge / assign (urgent task) / resolve, notes;
escalation ladders per station and residents' rule settings. Reads of resident data are audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from devices.errors import NotFoundError, PermissionDenied
from dispatcher import service as dispatch
from monitor.alerts import store
from monitor.alerts.escalation import policy_for, save_policy
from monitor.rules.context import validate_settings
from web.api import audit
from web.api.deps import Conn, Staff, User, access_reason, client_ip, now
from web.api.models import problems
from web.api.routers.stations import check_station
from web.api.scope import home_scope, in_station_scope, resident_scope
from web.auth.principal import Principal, Role

router = APIRouter(tags=["alerts"])

StatusFilter = Literal["active", "open", "acknowledged", "assigned", "resolved", "all"]


class AlertRead(BaseModel):
    id: int
    home_id: str
    station_id: str | None
    resident_id: str | None
    resident_name: str | None = None
    address: str | None = None
    kind: str
    severity: str
    status: str
    started_at: datetime
    detected_at: datetime
    raised_at: datetime
    last_evidence_at: datetime
    occurrences: int
    flaps: int
    reason_zh: str
    reason_en: str
    evidence: dict[str, Any]
    condition_cleared_at: datetime | None
    escalation_step: int
    escalate_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    assigned_at: datetime | None
    assigned_to: str | None
    task_id: int | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: str | None
    family_acknowledged_at: datetime | None = None  # a relative has seen it (the ladder goes on)
    notes: str


class AlertEvent(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class AlertDetail(AlertRead):
    history: list[AlertEvent]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssignBody(_Body):
    caregiver_id: str = Field(min_length=1, max_length=64)
    urgent_task: bool = Field(
        default=True, description="create an urgent task and re-plan the caregiver's day"
    )


class ResolveBody(_Body):
    outcome: Literal["real_incident", "false_alarm", "no_action_needed"]
    notes: str = Field(default="", max_length=4000)


class NoteBody(_Body):
    note: str = Field(min_length=1, max_length=4000)


class Suggestion(BaseModel):
    caregiver_id: str
    name: str
    eta_min: float | None = None
    reason: str = ""


_SELECT = sql.SQL(
    "SELECT a.*, r.name AS resident_name, h.address, (SELECT max(e.at) FROM alert_event e WHERE "
    "e.alert_id = a.id AND e.action = 'family_acknowledged') AS family_acknowledged_at "
    "FROM alert a JOIN home h ON h.id = a.home_id "
    "LEFT JOIN resident r ON r.id = a.resident_id WHERE {} AND ({})"
)


def _actor(user: Principal) -> str:
    return f"{user.role.value}:{user.username}"


def _audit(request: Request, conn: Conn, user: Principal, rows: list[dict[str, Any]], why: str) -> None:
    ids = sorted({r["resident_id"] for r in rows if r.get("resident_id")})
    audit.record(
        conn, principal=user, action="read", resource="alerts", resident_ids=ids,
        reason=access_reason(request, why), ip=client_ip(request),
    )  # fmt: skip


def _scoped(conn: Conn, user: Principal, alert_id: int) -> dict[str, Any]:
    """The alert if it is in the caller's scope, else NotFoundError (no hint that it exists)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SELECT.format(home_scope(user), sql.SQL("a.id = %s")), (alert_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no alert {alert_id}")
    return row


@router.get("/alerts", responses=problems(401))
def list_alerts(
    request: Request,
    conn: Conn,
    user: User,
    status: StatusFilter = "active",
    station_id: str | None = None,
    home_id: str | None = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AlertRead]:
    """Alerts in scope, newest first; ``active`` = not yet resolved."""
    cond = sql.SQL(
        "(%(st)s = 'all' OR (%(st)s = 'active' AND a.status <> 'resolved') OR a.status = %(st)s) "
        "AND (%(station)s::text IS NULL OR a.station_id = %(station)s) "
        "AND (%(home)s::text IS NULL OR a.home_id = %(home)s) AND (%(kind)s::text IS NULL OR a.kind = %(kind)s)"
    )
    query = _SELECT.format(home_scope(user), cond) + sql.SQL(
        " ORDER BY a.id DESC LIMIT %(lim)s OFFSET %(off)s"
    )
    params = {"st": status, "station": station_id, "home": home_id, "kind": kind, "lim": limit, "off": offset}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    _audit(request, conn, user, rows, "alert board")
    return [AlertRead(**r) for r in rows]


@router.get("/alerts/{alert_id}", responses=problems(401, 404))
def get_alert(alert_id: int, request: Request, conn: Conn, user: User) -> AlertDetail:
    """One alert with every transition (who and when)."""
    row = _scoped(conn, user, alert_id)
    _audit(request, conn, user, [row], "alert detail")
    return AlertDetail(**row, history=[AlertEvent(**e) for e in store.history(conn, alert_id)])


def _after(request: Request, conn: Conn, user: Principal, alert_id: int, action: str) -> AlertRead:
    """The alert after an action, audited: the answer carries the resident's name, address and evidence."""
    row = _scoped(conn, user, alert_id)
    ids = [row["resident_id"]] if row.get("resident_id") else []
    audit.read(request, conn, user, f"alert/{alert_id}", ids, f"alert {action}", action=action)
    return AlertRead(**row)


@router.post("/alerts/{alert_id}/ack", responses=problems(401, 403, 404, 409))
def acknowledge(alert_id: int, request: Request, conn: Conn, user: User) -> AlertRead:
    """Acknowledge. Staff and admins: the alert is acknowledged and the ladder stops. A relative: recorded
    in the history (``family_acknowledged``) and shown, but staff, manager and reminder steps go on."""
    if user.role is Role.CAREGIVER:
        raise PermissionDenied("caregivers acknowledge through their assigned task", code="forbidden_role")
    with conn.transaction():
        _scoped(conn, user, alert_id)
        if user.role is Role.FAMILY:
            store.family_acknowledge(conn, alert_id, actor=_actor(user))
        else:
            store.acknowledge(conn, alert_id, actor=_actor(user))
    return _after(request, conn, user, alert_id, "ack")


def _check_caregiver(conn: Conn, user: Principal, caregiver_id: str, station_id: str | None) -> None:
    row = conn.execute("SELECT station_id FROM caregiver WHERE id = %s", (caregiver_id,)).fetchone()
    if row is None or not in_station_scope(conn, user, row[0]):  # another station's: as if absent
        raise NotFoundError(f"no caregiver {caregiver_id!r}")
    if user.role is not Role.ADMIN and row[0] != station_id:
        raise PermissionDenied(
            f"caregiver {caregiver_id} is not at station {station_id}", code="other_station"
        )


@router.post("/alerts/{alert_id}/assign", responses=problems(401, 403, 404, 409, 422))
def assign(alert_id: int, body: AssignBody, request: Request, conn: Conn, user: Staff) -> AlertRead:
    """Send a caregiver: an urgent task is created and the planner re-plans the day around it."""

    with conn.transaction():
        alert = _scoped(conn, user, alert_id)
        _check_caregiver(conn, user, body.caregiver_id, alert["station_id"])
        task_id = None
        if body.urgent_task and alert["status"] != "resolved":
            task_id = dispatch.create_urgent_task(
                conn,
                home_id=alert["home_id"],
                alert_id=alert_id,
                now=now(request),
                caregiver_id=body.caregiver_id,
            )
        store.assign(conn, alert_id, actor=_actor(user), caregiver_id=body.caregiver_id, task_id=task_id)
    return _after(request, conn, user, alert_id, "assign")


@router.get("/alerts/{alert_id}/suggestions", responses=problems(401, 403, 404))
def suggestions(alert_id: int, request: Request, conn: Conn, user: Staff) -> list[Suggestion]:
    """The nearest suitable caregivers on shift, from the planner's travel times."""

    alert = _scoped(conn, user, alert_id)
    found = dispatch.suggest_caregivers(conn, home_id=alert["home_id"], now=now(request), limit=3)
    return [Suggestion.model_validate(s, from_attributes=not isinstance(s, dict)) for s in found]


@router.post("/alerts/{alert_id}/resolve", responses=problems(401, 403, 404, 409, 422))
def resolve(alert_id: int, body: ResolveBody, request: Request, conn: Conn, user: Staff) -> AlertRead:
    """Close it with an outcome and notes; the outcome tunes the resident's routine-rule sensitivity."""
    with conn.transaction():
        _scoped(conn, user, alert_id)
        store.resolve(conn, alert_id, actor=_actor(user), outcome=body.outcome, notes=body.notes)
    return _after(request, conn, user, alert_id, "resolve")


@router.post("/alerts/{alert_id}/notes", responses=problems(401, 403, 404, 422))
def add_note(alert_id: int, body: NoteBody, request: Request, conn: Conn, user: Staff) -> AlertRead:
    """Add a note to the alert's record."""
    with conn.transaction():
        _scoped(conn, user, alert_id)
        store.add_note(conn, alert_id, actor=_actor(user), note=body.note)
    return _after(request, conn, user, alert_id, "note")


def _station_in_scope(conn: Conn, user: Principal, station_id: str) -> None:
    if station_id == "*":
        if user.role is not Role.ADMIN:
            raise PermissionDenied("only admins change the default ladder", code="forbidden_role")
        return
    check_station(conn, user, station_id)


@router.get("/stations/{station_id}/escalation", responses=problems(401, 403, 404))
def get_escalation(station_id: str, conn: Conn, user: Staff) -> dict[str, Any]:
    """The station's escalation ladder (its own, or the default)."""
    _station_in_scope(conn, user, station_id)
    return policy_for(conn, station_id).model_dump(mode="json")


@router.put("/stations/{station_id}/escalation", responses=problems(401, 403, 404, 422))
def put_escalation(
    station_id: str, body: dict[str, Any], request: Request, conn: Conn, user: Staff
) -> dict[str, Any]:
    """Replace the station's ladder; refused with the field and the reason when invalid."""
    _station_in_scope(conn, user, station_id)
    with conn.transaction():
        policy = save_policy(
            conn, station_id, body, actor=_actor(user),
            webhook_allowlist=request.app.state.settings.notify().webhook_allowlist,
        )  # fmt: skip
    return policy.model_dump(mode="json")


def _resident_in_scope(conn: Conn, user: Principal, resident_id: str) -> None:
    q = sql.SQL("SELECT 1 FROM resident r JOIN home h ON h.id = r.home_id WHERE r.id = %s AND ({})")
    if conn.execute(q.format(resident_scope(user)), (resident_id,)).fetchone() is None:
        raise NotFoundError(f"no resident {resident_id!r}")


@router.get("/residents/{resident_id}/rule-settings", responses=problems(401, 403, 404))
def get_rule_settings(resident_id: str, request: Request, conn: Conn, user: Staff) -> dict[str, Any]:
    """The resident's rule settings (sensitivity, quiet hours, away mode, overrides), defaults filled in.
    Audited: away and hospital periods are health data."""
    _resident_in_scope(conn, user, resident_id)
    row = conn.execute(
        "SELECT settings FROM resident_rule_settings WHERE resident_id = %s", (resident_id,)
    ).fetchone()
    audit.read(request, conn, user, f"resident/{resident_id}/rule-settings", [resident_id], "rule settings")
    return validate_settings(row[0] if row else {}).model_dump(mode="json")


@router.put("/residents/{resident_id}/rule-settings", responses=problems(401, 403, 404, 422))
def put_rule_settings(
    resident_id: str, body: dict[str, Any], request: Request, conn: Conn, user: Staff
) -> dict[str, Any]:
    """Validate and save; the rules process picks the change up within its refresh interval."""
    _resident_in_scope(conn, user, resident_id)
    settings = validate_settings(body)
    with conn.transaction():
        conn.execute(
            "INSERT INTO resident_rule_settings (resident_id, settings, updated_by) VALUES (%s, %s, %s) "
            "ON CONFLICT (resident_id) DO UPDATE SET settings = excluded.settings, updated_at = now(), "
            "updated_by = excluded.updated_by",
            (resident_id, settings.model_dump_json(exclude_defaults=True), _actor(user)),
        )
    audit.read(
        request, conn, user, f"resident/{resident_id}/rule-settings", [resident_id], "rule settings saved",
        action="write",
    )  # fmt: skip
    return settings.model_dump(mode="json")
