"""Ability assessments (GB/T 42195-2022) and the entitlements they lead to, per resident.

Admins and staff of the resident's station only; every read and write audited. Assessments are history: a
correction is a new row (``corrects`` + ``correction_reason``), never an edit. A refused form answers 422 with
one ``details`` entry per wrong field (``["body", "answers", "B.2.4"]``) so the form can mark each question.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.exceptions import RequestValidationError
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.errors import NotFoundError
from dispatcher.assessment import store
from dispatcher.assessment.gbt42195 import (
    DIMENSION_MAX,
    DIMENSION_NAMES,
    ITEMS,
    LEVEL_FLOORS,
    LEVEL_NAMES,
    TOTAL_MAX,
    Level,
)
from dispatcher.assessment.scoring import InvalidAssessment, Modifiers, Problem, score
from dispatcher.entitlements import categories as resident_categories
from dispatcher.entitlements import rules as entitlement_rules
from dispatcher.records import DEFAULT_TZ
from web.api import audit
from web.api.deps import Conn, Staff, User, now
from web.api.models import problems
from web.api.scope import resident_scope
from web.auth.principal import Principal

router = APIRouter(tags=["assessments"])

# Local policy, not the standard's: a routine re-assessment a year after the last one unless the assessor sets
# an earlier date (an immediate re-assessment follows any change of condition).
REASSESS_AFTER = timedelta(days=365)

Reason = Literal["first", "routine", "immediate", "review", "other"]  # GB/T 42195-2022 附录A A.1.3 评估原因


class Name(BaseModel):
    zh: str
    en: str


class AssessmentCreate(BaseModel):
    """A filled form: the 26 answers by item code (``"B.1.1": 4`` …) and the level table's modifiers."""

    model_config = ConfigDict(extra="forbid")
    assessed_on: date
    reason: Reason = "routine"
    assessors: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=100)]], Field(min_length=1, max_length=10)
    ]
    answers: Annotated[dict[str, Any], Field(max_length=64)]
    coma: bool = False
    dementia_or_mental_disorder: bool = False
    risk_events_30d: Annotated[int, Field(ge=0, le=1000)] = 0
    evidence_notes: Annotated[str, Field(max_length=4000)] = ""
    next_due: date | None = None
    corrects: int | None = None
    correction_reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None

    @model_validator(mode="after")
    def _coherent(self) -> AssessmentCreate:
        if (self.corrects is None) != (self.correction_reason is None):
            raise ValueError("a correction names both the assessment it corrects and the reason")
        if self.next_due is not None and self.next_due <= self.assessed_on:
            raise ValueError("next_due must be after assessed_on")
        return self


class AssessmentRead(BaseModel):
    id: int
    resident_id: str
    assessed_on: date
    reason: str
    assessors: list[str]
    answers: dict[str, Any]
    coma: bool
    dementia_or_mental_disorder: bool
    risk_events_30d: int
    evidence_notes: str
    scores: dict[str, int]
    total: int
    preliminary_level: str
    level: str
    level_name: Name
    adjustments: list[str]
    next_due: date
    corrects: int | None
    correction_reason: str | None
    recorded_by: str
    recorded_at: Any


class FormItem(BaseModel):
    code: str
    dimension: str
    name: Name
    points: list[int]


class FormLevel(BaseModel):
    code: str
    name: Name
    min_total: int


class AssessmentForm(BaseModel):
    standard: str
    dimensions: dict[str, Name]
    dimension_max: dict[str, int]
    total_max: int
    items: list[FormItem]
    levels: list[FormLevel]


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: entitlement_rules.Category
    since: date | None = None
    evidence: Annotated[str, Field(max_length=1000)] = ""


class ResidentCategories(BaseModel):
    """The resident's categories as they are now (the whole set: one missing from it has ended)."""

    model_config = ConfigDict(extra="forbid")
    categories: Annotated[list[CategoryIn], Field(max_length=len(entitlement_rules.Category))]

    @model_validator(mode="after")
    def _once_each(self) -> ResidentCategories:
        codes = [c.category for c in self.categories]
        if len(set(codes)) != len(codes):
            raise ValueError("each category at most once")
        return self


class CategoryRead(BaseModel):
    category: str
    name: Name
    since: date | None
    evidence: str
    recorded_by: str
    recorded_at: Any


class ServiceEntitlement(BaseModel):
    kind: str
    unit: Literal["count", "minutes"]
    amount: int
    rules: list[str]


class SubsidyEntitlement(BaseModel):
    name: Name
    monthly_yuan: Decimal
    rules: list[str]


class EntitlementsRead(BaseModel):
    resident_id: str
    district: str
    effective_from: date
    assessment_id: int | None
    level: str | None
    categories: list[str]
    category_names: list[Name]
    age: int | None
    matched_rules: list[str]
    services: list[ServiceEntitlement]
    subsidies: list[SubsidyEntitlement]
    service_cost_share: Decimal
    care_bed: bool


def _resident(conn: Conn, user: Principal, resident_id: str) -> None:
    """404 unless the resident is in the caller's scope (exactly like one that does not exist)."""
    query = sql.SQL("SELECT 1 FROM resident r JOIN home h ON h.id = r.home_id WHERE r.id = %s AND {}").format(
        resident_scope(user)
    )
    if conn.execute(query, (resident_id,)).fetchone() is None:
        raise NotFoundError(f"no resident {resident_id!r}")


def _name(pair: tuple[str, str]) -> Name:
    return Name(zh=pair[0], en=pair[1])


def _read(row: store.AssessmentRow) -> AssessmentRead:
    zh, en = LEVEL_NAMES[Level.from_code(row.level)]
    return AssessmentRead(**vars(row), level_name=Name(zh=zh, en=en))


def _refuse(items: list[Problem]) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", *p.loc), "msg": p.reason, "type": "value_error"} for p in items]
    )


@router.get("/assessment-form", responses=problems(401))
def assessment_form(_user: User) -> AssessmentForm:
    """The GB/T 42195-2022 form: items with the points each may give, dimension maxima, the level table."""
    return AssessmentForm(
        standard="GB/T 42195-2022",
        dimensions={d.value: Name(zh=zh, en=en) for d, (zh, en) in DIMENSION_NAMES.items()},
        dimension_max={d.value: m for d, m in DIMENSION_MAX.items()},
        total_max=TOTAL_MAX,
        items=[
            FormItem(
                code=i.code, dimension=i.dimension.value, name=Name(zh=i.zh, en=i.en), points=list(i.points)
            )
            for i in ITEMS
        ],
        levels=[
            FormLevel(code=lv.code, name=Name(zh=LEVEL_NAMES[lv][0], en=LEVEL_NAMES[lv][1]), min_total=floor)
            for floor, lv in LEVEL_FLOORS
        ],
    )


@router.get("/residents/{resident_id}/assessments", responses=problems(401, 403, 404))
def list_assessments(
    resident_id: str,
    request: Request,
    conn: Conn,
    user: Staff,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AssessmentRead]:
    """A resident's assessments, the current one first; corrected rows stay, next to their corrections."""
    _resident(conn, user, resident_id)
    rows = store.history(conn, resident_id, limit=limit)
    audit.read(request, conn, user, f"resident/{resident_id}/assessments", [resident_id], "assessments")
    return [_read(r) for r in rows]


@router.post(
    "/residents/{resident_id}/assessments",
    status_code=status.HTTP_201_CREATED,
    responses=problems(401, 403, 404, 422),
)
def create_assessment(
    resident_id: str, body: AssessmentCreate, request: Request, conn: Conn, user: Staff
) -> AssessmentRead:
    """Score and record an assessment (or a correction of one: a new row naming it and why)."""
    today = now(request).astimezone(DEFAULT_TZ).date()
    mods = Modifiers(coma=body.coma, dementia_or_mental_disorder=body.dementia_or_mental_disorder,
                     risk_events_30d=body.risk_events_30d)  # fmt: skip
    with conn.transaction():
        _resident(conn, user, resident_id)
        wrong: list[Problem] = []
        if body.assessed_on > today:
            wrong.append(Problem(("assessed_on",), f"is after today ({today.isoformat()})"))
        if body.corrects is not None and not store.belongs_to(conn, body.corrects, resident_id):
            wrong.append(Problem(("corrects",), f"no assessment {body.corrects} of this resident"))
        try:
            result = score(body.answers, mods)
        except InvalidAssessment as e:
            wrong.extend(e.problems)
        if wrong:
            raise _refuse(wrong)
        row = store.insert(
            conn, resident_id=resident_id, assessed_on=body.assessed_on, reason=body.reason,
            assessors=body.assessors, answers=body.answers, modifiers=mods, evidence_notes=body.evidence_notes,
            result=result, next_due=body.next_due or body.assessed_on + REASSESS_AFTER, corrects=body.corrects,
            correction_reason=body.correction_reason, recorded_by=f"{user.role.value}:{user.username}",
        )  # fmt: skip
    audit.read(
        request, conn, user, f"resident/{resident_id}/assessments/{row.id}", [resident_id],
        "assessment recorded" if body.corrects is None else "assessment corrected", action="write",
    )  # fmt: skip
    return _read(row)


@router.get("/residents/{resident_id}/entitlements", responses=problems(401, 403, 404))
def get_entitlements(resident_id: str, request: Request, conn: Conn, user: Staff) -> EntitlementsRead:
    """What the district's basic eldercare service list entitles the resident to each month, from the
    assessment in force, the resident's categories and age (by birth year)."""
    _resident(conn, user, resident_id)
    current = store.latest(conn, resident_id)
    cats = [c.category for c in resident_categories.current(conn, resident_id)]
    row = conn.execute("SELECT birth_year FROM resident WHERE id = %s", (resident_id,)).fetchone()
    assert row is not None
    age = entitlement_rules.age_in(now(request).astimezone(DEFAULT_TZ).year, row[0])
    service_list = entitlement_rules.load()
    elder = entitlement_rules.Elder(
        level=Level.from_code(current.level) if current else None,
        categories=frozenset(entitlement_rules.Category(c) for c in cats),
        age=age,
    )
    out = entitlement_rules.evaluate(service_list, elder)
    audit.read(request, conn, user, f"resident/{resident_id}/entitlements", [resident_id], "entitlements")
    return EntitlementsRead(
        resident_id=resident_id, district=service_list.district, effective_from=service_list.effective_from,
        assessment_id=current.id if current else None, level=current.level if current else None,
        categories=cats, age=age, matched_rules=list(out.matched_rules),
        category_names=[_name(entitlement_rules.CATEGORY_NAMES[entitlement_rules.Category(c)]) for c in cats],
        services=[ServiceEntitlement(kind=s.kind, unit=s.unit, amount=s.amount, rules=list(s.rules))
                  for s in out.services],
        subsidies=[SubsidyEntitlement(name=Name(zh=s.name.zh, en=s.name.en), monthly_yuan=s.monthly_yuan,
                                      rules=list(s.rules)) for s in out.subsidies],
        service_cost_share=out.service_cost_share, care_bed=out.care_bed,
    )  # fmt: skip


def _categories(conn: Conn, resident_id: str) -> list[CategoryRead]:
    return [
        CategoryRead(
            **vars(c), name=_name(entitlement_rules.CATEGORY_NAMES[entitlement_rules.Category(c.category)])
        )
        for c in resident_categories.current(conn, resident_id)
    ]


@router.get("/residents/{resident_id}/categories", responses=problems(401, 403, 404))
def get_categories(resident_id: str, request: Request, conn: Conn, user: Staff) -> list[CategoryRead]:
    """The resident's categories for the basic service list (特困, 低保 …) that apply now."""
    _resident(conn, user, resident_id)
    out = _categories(conn, resident_id)
    audit.read(
        request, conn, user, f"resident/{resident_id}/categories", [resident_id], "resident categories"
    )
    return out


@router.put("/residents/{resident_id}/categories", responses=problems(401, 403, 404, 422))
def put_categories(
    resident_id: str, body: ResidentCategories, request: Request, conn: Conn, user: Staff
) -> list[CategoryRead]:
    """Set the resident's categories (the whole set). Ended ones are kept as history; the entitlements follow at
    once, as they are worked out from the current categories and the assessment in force."""
    entries = [resident_categories.CategoryEntry(c.category, c.since, c.evidence) for c in body.categories]
    with conn.transaction():
        _resident(conn, user, resident_id)
        added, ended = resident_categories.replace(
            conn, resident_id, entries, by=f"{user.role.value}:{user.username}"
        )
        out = _categories(conn, resident_id)
    why = f"categories +{','.join(added) or '-'} -{','.join(ended) or '-'}"
    audit.read(request, conn, user, f"resident/{resident_id}/categories", [resident_id], why, action="write")
    return out
