"""Write matrix from the app's OpenAPI schema: every mutating endpoint with an id in its path, called by staff
of station A (and A's caregiver and family member) with station B's ids, answers 404 (or 403 when the role may
not call it at all) and leaves B's rows exactly as they were. A new endpoint is covered automatically; one
with a path parameter or a body this file does not know how to fill fails the first test until it is added.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices.errors import ConflictError
from dispatcher.assessment.gbt42195 import ITEMS
from dispatcher.generate import add_service_plan
from dispatcher.records import DEFAULT_TZ, CaregiverSpec, upsert_caregiver
from tests.integration.scope_world import ScopeWorld, Side, build, login
from web.api.app import create_app
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.timeout(300)]
MUTATING = ("post", "put", "patch", "delete")
ROLE_DENIALS = {"forbidden_role", "not_a_caregiver"}  # 403 codes that say "not for your role", not "exists"

# Which row of a side each path parameter names. Users are global rows (admins only): staff get 403.
PARAMS: dict[str, Callable[[ScopeWorld, Side], object]] = {
    "station_id": lambda w, s: s.station_id,
    "home_id": lambda w, s: s.home_id,
    "resident_id": lambda w, s: s.resident_id,
    "device_id": lambda w, s: s.device_id,
    "caregiver_id": lambda w, s: s.caregiver_id,
    "plan_id": lambda w, s: s.plan_id,
    "alert_id": lambda w, s: s.alert_id,
    "task_id": lambda w, s: s.task_id,
    "user_id": lambda w, s: w.user_ids["staff_a" if s is w.a else "staff_b"],
}


@dataclass
class Call:
    """What a body factory may use: the world, the resolved path ids, a fresh id, the stations' day."""

    world: ScopeWorld
    ids: dict[str, object]
    escalation: dict[str, Any]

    @property
    def today(self) -> date:
        return datetime.now(DEFAULT_TZ).date()


# Request bodies by schema name (or "METHOD path" for an inline schema). Each is valid, so a 404 is the scope
# check and not a validation error; where a body names a station or a caregiver it names the caller's (A's):
# the attack is "move B's row to my station", not "write into B".
BODIES: dict[str, Callable[[Call], Any]] = {
    "VisitAction": lambda c: {"client_action_id": uuid.uuid4().hex},
    "AssignBody": lambda c: {"caregiver_id": c.world.a.caregiver_id},
    "ResolveBody": lambda c: {"outcome": "false_alarm", "notes": "误报"},
    "NoteBody": lambda c: {"note": "已电话联系"},
    "CaregiverSpec": lambda c: {
        "id": c.ids["caregiver_id"],
        "station_id": c.world.a.station_id,
        "name": "改名",
        "sex": "male",
    },
    "ServicePlanSpec": lambda c: {
        "recurrence": "weekly",
        "weekdays": [6],
        "start": "2026-01-01",
        "kind": "bathing",
        "duration": 45,
        "window": {"start": "09:00", "end": "10:00"},
    },
    "PlanRequest": lambda c: {"day": c.today.isoformat(), "time_limit_s": 1},
    "PUT /api/stations/{station_id}/escalation": lambda c: c.escalation,
    "PUT /api/residents/{resident_id}/rule-settings": lambda c: {"sensitivity": 0.5},
    "AssessmentCreate": lambda c: {
        "assessed_on": c.today.isoformat(),
        "assessors": ["评估员"],
        "answers": {i.code: i.max for i in ITEMS},
    },
    "ResidentCategories": lambda c: {"categories": [{"category": "dibao"}]},
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    params: tuple[str, ...]
    body_key: str | None  # None: no request body

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def _endpoints(schema: dict[str, Any]) -> list[Endpoint]:
    out = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            params = tuple(p["name"] for p in op.get("parameters", []) if p["in"] == "path")
            if method not in MUTATING or not params:
                continue
            body_key = None
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"].get("$ref")
                body_key = ref.rsplit("/", 1)[-1] if ref else f"{method.upper()} {path}"
            out.append(Endpoint(method, path, params, body_key))
    return out


SNAPSHOT = {
    "station": "id = %(st)s",
    "home": "station_id = %(st)s OR id = %(home)s",
    "resident": "home_id = %(home)s OR id = %(res)s",
    "device": "home_id = %(home)s OR id = %(dev)s",
    "caregiver": "station_id = %(st)s OR id = %(cg)s",
    "service_plan": "resident_id = %(res)s OR id = %(plan)s",
    "alert": "home_id = %(home)s OR id = %(alert)s",
    "alert_event": "alert_id = %(alert)s",
    "task": "station_id = %(st)s OR home_id = %(home)s",
    "visit_action": "task_id IN (SELECT id FROM task WHERE station_id = %(st)s)",
    "plan": "station_id = %(st)s",
    "escalation_policy": "station_id = %(st)s",
    "resident_rule_settings": "resident_id = %(res)s",
    "assessment": "resident_id = %(res)s",
    "resident_category": "resident_id = %(res)s",
}


def snapshot(conn: psycopg.Connection[Any], s: Side) -> dict[str, Any]:
    """Every row of a side that a write could touch, as JSON (sorted, so equal means unchanged)."""
    args = {"st": s.station_id, "home": s.home_id, "res": s.resident_id, "dev": s.device_id,
            "cg": s.caregiver_id, "plan": s.plan_id, "alert": s.alert_id}  # fmt: skip
    out = {}
    for table, where in SNAPSHOT.items():
        row = conn.execute(
            f"SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY to_jsonb(x)::text), '[]') FROM {table} x WHERE {where}",
            args,
        ).fetchone()
        assert row is not None
        out[table] = row[0]
    return out


@pytest.fixture(scope="module")
def world(settings: Settings) -> ScopeWorld:
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        return build(conn, uuid.uuid4().hex[:8])


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cookie_secure=False)) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(client: TestClient, world: ScopeWorld) -> dict[str, dict[str, str]]:
    return login(client, world)


@pytest.fixture(scope="module")
def escalation(client: TestClient, world: ScopeWorld, tokens: dict[str, dict[str, str]]) -> dict[str, Any]:
    r = client.get(f"/api/stations/{world.a.station_id}/escalation", headers=tokens["admin"])
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as c:
        yield c


def _send(
    client: TestClient,
    world: ScopeWorld,
    ep: Endpoint,
    sides: tuple[Side, ...],
    headers: dict[str, str],
    escalation: dict[str, Any],
) -> tuple[str, Any]:
    ids = {p: PARAMS[p](world, s) for p, s in zip(ep.params, sides, strict=True)}
    url = ep.path.format(**ids)
    body = None if ep.body_key is None else BODIES[ep.body_key](Call(world, ids, escalation))
    r = client.request(ep.method.upper(), url, headers=headers, json=body)
    return url, r


def _denied(r: Any) -> bool:
    """404, or 403 because the role may not call the endpoint at all (which says nothing about the row)."""
    if r.status_code == 404:
        return True
    return r.status_code == 403 and r.json().get("code") in ROLE_DENIALS


def _sides(world: ScopeWorld, n: int) -> list[tuple[Side, ...]]:
    """Every assignment of A/B to ``n`` path parameters with at least one B (A's resident with B's plan …)."""
    return [c for c in itertools.product((world.a, world.b), repeat=n) if any(s is world.b for s in c)]


def test_every_mutating_path_parameter_and_body_is_known(client: TestClient) -> None:
    endpoints = _endpoints(client.app.openapi())  # type: ignore[attr-defined]
    assert len(endpoints) >= 12, [str(e) for e in endpoints]
    unknown_params = {f"{e}: {p}" for e in endpoints for p in e.params if p not in PARAMS}
    unknown_bodies = {f"{e}: {e.body_key}" for e in endpoints if e.body_key and e.body_key not in BODIES}
    assert not unknown_params, f"add these path parameters to PARAMS: {sorted(unknown_params)}"
    assert not unknown_bodies, f"add these request bodies to BODIES: {sorted(unknown_bodies)}"


@pytest.mark.parametrize("role", ["staff_a", "caregiver_a", "family_a"])
def test_other_stations_ids_are_not_found_and_left_unchanged(
    client: TestClient,
    world: ScopeWorld,
    tokens: dict[str, dict[str, str]],
    escalation: dict[str, Any],
    conn: psycopg.Connection[Any],
    role: str,
) -> None:
    before = snapshot(conn, world.b)
    failures = []
    tried = 0
    for ep in _endpoints(client.app.openapi()):  # type: ignore[attr-defined]
        for sides in _sides(world, len(ep.params)):
            url, r = _send(client, world, ep, sides, tokens[role], escalation)
            tried += 1
            if not _denied(r):
                failures.append(f"{ep.method.upper()} {url}: {r.status_code} {r.text[:200]}")
            after = snapshot(conn, world.b)
            if after != before:
                changed = sorted(t for t in before if before[t] != after[t])
                failures.append(f"{ep.method.upper()} {url} changed station B's {changed}")
                before = after
    assert tried >= 12
    assert not failures, "\n".join(failures)


ALLOWED_OWN = {
    ("family_a", "POST /api/alerts/{alert_id}/ack")
}  # a relative acknowledges their relative's alert


@pytest.mark.parametrize("role", ["caregiver_a", "family_a"])
def test_caregiver_and_family_write_nothing_else_of_their_own_station(
    client: TestClient,
    world: ScopeWorld,
    tokens: dict[str, dict[str, str]],
    escalation: dict[str, Any],
    conn: psycopg.Connection[Any],
    role: str,
) -> None:
    """Caregivers write only check-ins of their own visits (A's task is not one), family only acknowledgements."""
    before = snapshot(conn, world.a)
    failures = []
    for ep in _endpoints(client.app.openapi()):  # type: ignore[attr-defined]
        if (role, str(ep)) in ALLOWED_OWN:
            continue
        url, r = _send(client, world, ep, (world.a,) * len(ep.params), tokens[role], escalation)
        if r.status_code not in (403, 404):
            failures.append(f"{ep.method.upper()} {url}: {r.status_code} {r.text[:200]}")
    after = snapshot(conn, world.a)
    assert not failures, "\n".join(failures)
    assert after == before, sorted(t for t in before if before[t] != after[t])


def test_the_same_calls_with_own_ids_get_through(
    client: TestClient, world: ScopeWorld, tokens: dict[str, dict[str, str]], escalation: dict[str, Any]
) -> None:
    """The control: staff of A with A's ids are not refused, so the 404s above are the scope check (and the
    bodies are valid)."""
    failures = []
    for ep in _endpoints(client.app.openapi()):  # type: ignore[attr-defined]
        url, r = _send(client, world, ep, (world.a,) * len(ep.params), tokens["staff_a"], escalation)
        refused = r.status_code in (404, 422) or (
            r.status_code == 403 and r.json().get("code") not in ROLE_DENIALS
        )
        if refused or r.status_code >= 500:
            failures.append(f"{ep.method.upper()} {url}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)


def test_body_ids_of_another_station_are_not_found(
    client: TestClient, world: ScopeWorld, tokens: dict[str, dict[str, str]], conn: psycopg.Connection[Any]
) -> None:
    """Writes whose target is named in the body: staff of A cannot create or book into B, nor send B's
    caregiver, nor take over B's caregiver under a new path."""
    a, b, tag = world.a, world.b, world.tag
    before = snapshot(conn, b)
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/homes", {"id": f"wx-{tag}", "station_id": b.station_id, "address": "x", "lat": 29.8,
                                "lon": 106.6}),
        ("POST", "/api/residents", {"id": f"wxr-{tag}", "home_id": b.home_id, "name": "x"}),
        ("POST", "/api/devices", {"id": f"wxd-{tag}", "home_id": b.home_id, "kind": "motion", "room": "kitchen"}),
        ("POST", "/api/bookings", {"resident_id": b.resident_id, "day": datetime.now(DEFAULT_TZ).date().isoformat(),
                                   "kind": "cleaning", "duration": 60, "window": {"start": "09:00", "end": "12:00"}}),
        ("PUT", f"/api/caregivers/{b.caregiver_id}", {"id": b.caregiver_id, "station_id": b.station_id,
                                                      "name": "x", "sex": "male"}),
        ("PUT", f"/api/caregivers/wxc-{tag}", {"id": f"wxc-{tag}", "station_id": b.station_id, "name": "x",
                                              "sex": "male"}),
        ("POST", f"/api/alerts/{a.alert_id}/assign", {"caregiver_id": b.caregiver_id}),
    ]  # fmt: skip
    failures = []
    for method, url, body in calls:
        r = client.request(method, url, headers=tokens["staff_a"], json=body)
        if r.status_code != 404:
            failures.append(f"{method} {url}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
    assert snapshot(conn, b) == before


def test_moves_within_ones_scope_are_conflicts(
    client: TestClient, world: ScopeWorld, tokens: dict[str, dict[str, str]]
) -> None:
    """An admin sees both stations, yet a caregiver still does not move between them, nor a plan between
    residents: 409, not a silent move."""
    a, b = world.a, world.b
    r = client.put(f"/api/caregivers/{b.caregiver_id}", headers=tokens["admin"],
                   json={"id": b.caregiver_id, "station_id": a.station_id, "name": "x", "sex": "male"})  # fmt: skip
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "other_station"
    spec = BODIES["ServicePlanSpec"](Call(world, {}, {}))
    r = client.put(
        f"/api/residents/{a.resident_id}/service-plans/{b.plan_id}", headers=tokens["admin"], json=spec
    )
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "other_resident"


def test_upserts_refuse_to_move_rows_in_sql(conn: psycopg.Connection[Any], world: ScopeWorld) -> None:
    """The guard is in the statements too, for callers that do not check first (CLI, seeds, a future route)."""
    a, b = world.a, world.b
    before = snapshot(conn, b)
    with pytest.raises(ConflictError):
        upsert_caregiver(
            conn, CaregiverSpec(id=b.caregiver_id, station_id=a.station_id, name="x", sex="male")
        )
    spec = {"recurrence": "daily", "start": "2026-01-01", "kind": "meal", "duration": 30,
            "window": {"start": "17:00", "end": "18:00"}}  # fmt: skip
    with pytest.raises(ConflictError):
        add_service_plan(conn, b.plan_id, a.resident_id, spec)
    assert snapshot(conn, b) == before
    # Rewriting a row where it is still works (and, with the same values, changes nothing).
    upsert_caregiver(
        conn, CaregiverSpec(id=b.caregiver_id, station_id=b.station_id, name="b护理", sex="female")
    )
    add_service_plan(conn, b.plan_id, b.resident_id, {**spec, "window": {"start": "11:00", "end": "12:30"}})
    assert snapshot(conn, b) == before
