"""Assessments over the API on the real database: scored and stored, history kept (corrections are new rows,
the table refuses edits), 422 with one reason per wrong field, scoped to the resident's station, audited; and
the entitlements the latest assessment and the resident's categories give."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from dispatcher.assessment.gbt42195 import ITEMS
from dispatcher.records import DEFAULT_TZ
from tests.integration.scope_world import ScopeWorld, audit_rows, build, last_audit_id, login
from web.api.app import create_app
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.timeout(120)]
Tokens = dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def world(settings: Settings) -> ScopeWorld:
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        return build(conn, uuid.uuid4().hex[:8])


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cookie_secure=False)) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(client: TestClient, world: ScopeWorld) -> Tokens:
    return login(client, world)


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as c:
        yield c


def today() -> str:
    return datetime.now(DEFAULT_TZ).date().isoformat()


def form(**changes: Any) -> dict[str, Any]:
    answers = {i.code: i.max for i in ITEMS}
    answers.update(changes.pop("answers", {}))
    return {"assessed_on": today(), "assessors": ["张评估", "李评估"], "answers": answers,
            "evidence_notes": "本人及女儿在场，观察起立行走", **changes}  # fmt: skip


# Needs help with bathing and dressing (2), all transfers and walking reduced: a severe, bed-bound profile.
SEVERE = {f"B.1.{n}": 0 for n in range(1, 9)} | {"B.2.1": 2, "B.2.2": 2, "B.2.3": 1, "B.2.4": 0}


def test_record_score_and_history(
    client: TestClient, world: ScopeWorld, tokens: Tokens, conn: psycopg.Connection[Any]
) -> None:
    rid, staff = world.a.resident_id, tokens["staff_a"]
    url = f"/api/residents/{rid}/assessments"
    since = last_audit_id(conn)
    r = client.post(url, headers=staff, json=form(reason="first", answers={"B.2.4": 2}))
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["total"], first["level"], first["level_name"]["zh"]) == (89, "mild", "能力轻度受损")
    assert first["scores"] == {"B.1": 32, "B.2": 14, "B.3": 28, "B.4": 15}
    assert first["next_due"] == (datetime.now(DEFAULT_TZ).date() + timedelta(days=365)).isoformat()
    assert first["recorded_by"].startswith("staff:")

    # A correction is a new row naming the first and why; two risk events raise the level by one.
    fix = form(answers={"B.2.4": 2}, risk_events_30d=2, corrects=first["id"], correction_reason="漏记两次跌倒",
               next_due=(datetime.now(DEFAULT_TZ).date() + timedelta(days=90)).isoformat())  # fmt: skip
    r = client.post(url, headers=staff, json=fix)
    assert r.status_code == 201, r.text
    second = r.json()
    assert (second["preliminary_level"], second["level"], second["adjustments"]) == ("mild", "moderate",
                                                                                    ["risk_events"])  # fmt: skip

    r = client.get(url, headers=staff)
    assert r.status_code == 200, r.text
    assert [a["id"] for a in r.json()] == [second["id"], first["id"]]  # both kept, the current one first
    rows = audit_rows(conn, world.logins["staff_a"], since)
    assert [(x["action"], x["resource"]) for x in rows] == [
        ("write", f"resident/{rid}/assessments/{first['id']}"),
        ("write", f"resident/{rid}/assessments/{second['id']}"),
        ("read", f"resident/{rid}/assessments"),
    ]
    assert all(x["resident_ids"] == [rid] for x in rows)

    # The table itself refuses edits and deletions: history cannot be rewritten, even by the app's role.
    for statement in (
        "UPDATE assessment SET level = 'intact' WHERE id = %s",
        "DELETE FROM assessment WHERE id = %s",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement, (first["id"],))


def test_wrong_answers_are_422_per_field(client: TestClient, world: ScopeWorld, tokens: Tokens) -> None:
    url = f"/api/residents/{world.a.resident_id}/assessments"
    body = form(answers={"B.2.4": 4, "B.3.7": "yes"}, coma=True)
    del body["answers"]["B.4.1"]
    body["assessed_on"] = (datetime.now(DEFAULT_TZ).date() + timedelta(days=2)).isoformat()
    r = client.post(url, headers=tokens["staff_a"], json=body)
    assert r.status_code == 422, r.text
    locs = {tuple(d["loc"]): d["msg"] for d in r.json()["details"]}
    assert set(locs) == {("body", "assessed_on"), ("body", "answers", "B.2.4"), ("body", "answers", "B.3.7"),
                         ("body", "answers", "B.4.1"), ("body", "answers", "B.3.9")}  # fmt: skip
    assert "not one of 3, 2, 1, 0" in locs[("body", "answers", "B.2.4")]
    r = client.post(url, headers=tokens["staff_a"], json=form(corrects=1))  # a correction needs its reason
    assert r.status_code == 422
    r = client.post(url, headers=tokens["staff_a"], json=form(corrects=2**40, correction_reason="x"))
    assert r.status_code == 422
    assert [d["loc"] for d in r.json()["details"]] == [["body", "corrects"]]


def test_scope(client: TestClient, world: ScopeWorld, tokens: Tokens) -> None:
    b = world.b.resident_id
    for role in ("staff_a",):
        assert client.get(f"/api/residents/{b}/assessments", headers=tokens[role]).status_code == 404
        assert (
            client.post(f"/api/residents/{b}/assessments", headers=tokens[role], json=form()).status_code
            == 404
        )
        assert client.get(f"/api/residents/{b}/entitlements", headers=tokens[role]).status_code == 404
    for role in ("family_a", "caregiver_a"):
        a = world.a.resident_id
        assert client.get(f"/api/residents/{a}/assessments", headers=tokens[role]).status_code == 403
        assert client.get(f"/api/residents/{a}/entitlements", headers=tokens[role]).status_code == 403
    assert (
        client.post(f"/api/residents/{b}/assessments", headers=tokens["admin"], json=form()).status_code
        == 201
    )


def test_entitlements_follow_level_and_categories(
    client: TestClient, world: ScopeWorld, tokens: Tokens, conn: psycopg.Connection[Any]
) -> None:
    rid = f"wr-ent-{world.tag}"
    conn.execute(
        "INSERT INTO resident (id, home_id, name, birth_year, sex) VALUES (%s, %s, '王奶奶', %s, 'F')",
        (rid, world.a.home_id, datetime.now(DEFAULT_TZ).year - 86),
    )
    url, staff = f"/api/residents/{rid}/entitlements", tokens["staff_a"]
    r = client.get(url, headers=staff)
    assert r.status_code == 200, r.text
    none = r.json()
    assert (none["assessment_id"], none["level"], none["age"]) == (None, None, 86)
    assert none["matched_rules"] == ["age-80-allowance"]  # by age alone, before any assessment or category

    cats = [
        {"category": "dibao", "since": "2025-06-01", "evidence": "低保证 2025-0601"},
        {"category": "tekun"},
    ]
    r = client.put(f"/api/residents/{rid}/categories", headers=staff, json={"categories": cats})
    assert r.status_code == 200, r.text
    assert [(c["category"], c["name"]["zh"]) for c in r.json()] == [("dibao", "低保"), ("tekun", "特困")]
    # 特困 was a mistake: the whole set is sent again; the ended row stays as history.
    cats[1] = {"category": "living_alone"}
    r = client.put(f"/api/residents/{rid}/categories", headers=staff, json={"categories": cats})
    assert [c["category"] for c in r.json()] == ["dibao", "living_alone"]
    assert r.json()[0]["since"] == "2025-06-01"
    ended = conn.execute(
        "SELECT category FROM resident_category WHERE resident_id = %s AND ended_at IS NOT NULL", (rid,)
    ).fetchall()
    assert ended == [("tekun",)]
    bad = client.put(f"/api/residents/{rid}/categories", headers=staff,
                     json={"categories": [{"category": "rich"}, {"category": "dibao"}, {"category": "dibao"}]})  # fmt: skip
    assert bad.status_code == 422
    r = client.post(f"/api/residents/{rid}/assessments", headers=staff, json=form(answers=SEVERE))
    assert r.status_code == 201, r.text
    assert (r.json()["total"], r.json()["level"]) == (0 + 5 + 28 + 15, "moderate")
    since = last_audit_id(conn)
    ent = client.get(url, headers=staff).json()
    assert (ent["level"], ent["categories"]) == ("moderate", ["dibao", "living_alone"])
    assert [n["zh"] for n in ent["category_names"]] == ["低保", "独居"]
    assert ent["matched_rules"] == ["poor-moderate-care", "alone-visits", "age-80-allowance"]
    assert [(s["kind"], s["unit"], s["amount"]) for s in ent["services"]] == [
        ("bathing", "count", 2), ("cleaning", "minutes", 120), ("visit", "count", 2)]  # fmt: skip
    assert ent["care_bed"] is False
    assert [x["resource"] for x in audit_rows(conn, world.logins["staff_a"], since)] == [
        f"resident/{rid}/entitlements"
    ]

    # Re-assessed with dementia diagnosed: one level up to severe; the care bed and 8 visits follow.
    r = client.post(f"/api/residents/{rid}/assessments", headers=staff,
                    json=form(answers=SEVERE, dementia_or_mental_disorder=True))  # fmt: skip
    assert r.json()["level"] == "severe"
    ent = client.get(url, headers=staff).json()
    assert (ent["level"], ent["care_bed"], ent["assessment_id"]) == ("severe", True, r.json()["id"])
    assert ("visit", 8) in [(s["kind"], s["amount"]) for s in ent["services"]]
    assert [(s["name"]["zh"], s["monthly_yuan"]) for s in ent["subsidies"]] == [
        ("经济困难失能老年人护理补贴", "300"), ("高龄津贴", "50")]  # fmt: skip


def test_form_and_openapi(client: TestClient, tokens: Tokens) -> None:
    r = client.get("/api/assessment-form", headers=tokens["staff_a"])
    assert r.status_code == 200
    body = r.json()
    assert (len(body["items"]), body["total_max"], body["levels"][0]["min_total"]) == (26, 90, 90)
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/residents/{resident_id}/assessments", "/api/residents/{resident_id}/entitlements"} <= set(
        paths
    )
