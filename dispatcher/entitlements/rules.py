"""Load the basic eldercare service list (基本养老服务清单) from JSON and evaluate it for one elder.

A list is a set of rules. A rule applies when every condition it states holds (ability level in ``levels``,
at least one of ``categories_any``, age within ``min_age``/``max_age``; an absent condition always holds) and
grants monthly services (kind × count or minutes), named subsidies, a share of the service cost the subsidy
pays, and family-care-bed (家庭养老床位) eligibility.

When several rules apply, grants do not add up: the district's list names what one elder is entitled to, and an
elder who is both 特困 and 高龄 must not get two bath allowances for one bath. So each service kind and unit
gets the largest grant, each named subsidy the largest amount, the cost share the largest share; different
kinds and differently named subsidies stand side by side. Every line says which rules granted it.

A list that does not validate is refused as a whole, with one reason per wrong field (``rules.2.when.levels.0:
…``): a half-loaded list would silently entitle people to less, or more, than the district decided.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from devices.errors import ValidationFailed
from dispatcher.assessment.gbt42195 import Level

K = TypeVar("K")

DEFAULT_LIST = Path(__file__).resolve().parent / "data" / "basic_service_list.json"


class Category(StrEnum):
    """Resident categories of the service list (the ``resident_category`` table uses the same codes)."""

    TEKUN = "tekun"  # 特困人员
    DIBAO = "dibao"  # 低保
    DIBAO_EDGE = "dibao_edge"  # 低保边缘
    GAOLING = "gaoling"  # 高龄
    LIVING_ALONE = "living_alone"  # 独居
    EMPTY_NEST = "empty_nest"  # 空巢
    LEFT_BEHIND = "left_behind"  # 留守
    FAMILY_PLANNING_SPECIAL = "family_planning_special"  # 计划生育特殊家庭


CATEGORY_NAMES: dict[Category, tuple[str, str]] = {
    Category.TEKUN: ("特困", "Extreme poverty (特困)"),
    Category.DIBAO: ("低保", "Minimum living allowance (低保)"),
    Category.DIBAO_EDGE: ("低保边缘", "Near minimum allowance (低保边缘)"),
    Category.GAOLING: ("高龄", "Advanced age"),
    Category.LIVING_ALONE: ("独居", "Living alone"),
    Category.EMPTY_NEST: ("空巢", "Empty nest"),
    Category.LEFT_BEHIND: ("留守", "Left behind"),
    Category.FAMILY_PLANNING_SPECIAL: ("计划生育特殊家庭", "Special family-planning family"),
}

LevelCode = Literal["intact", "mild", "moderate", "severe", "lost"]
ServiceKind = Literal["meal", "bathing", "cleaning", "escort", "visit"]  # TaskKind values a list may grant


class InvalidServiceList(ValidationFailed):
    """The list was refused; ``reasons`` has one line per wrong field."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("invalid basic service list: " + "; ".join(reasons), code="invalid_service_list")
        self.reasons = reasons


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    zh: Annotated[str, Field(min_length=1, max_length=200)]
    en: Annotated[str, Field(min_length=1, max_length=200)]


class When(_Strict):
    levels: Annotated[list[LevelCode], Field(min_length=1)] | None = None
    categories_any: Annotated[list[Category], Field(min_length=1)] | None = None
    min_age: Annotated[int, Field(ge=0, le=150)] | None = None
    max_age: Annotated[int, Field(ge=0, le=150)] | None = None

    @model_validator(mode="after")
    def _ages(self) -> When:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        return self


class ServiceGrant(_Strict):
    kind: ServiceKind
    count: Annotated[int, Field(ge=1, le=100)] | None = None  # visits a month
    minutes: Annotated[int, Field(ge=1, le=10_000)] | None = None  # minutes a month

    @model_validator(mode="after")
    def _one_unit(self) -> ServiceGrant:
        if (self.count is None) == (self.minutes is None):
            raise ValueError("give exactly one of count (visits a month) or minutes (a month)")
        return self


class SubsidyGrant(_Strict):
    name: Text
    monthly_yuan: Annotated[Decimal, Field(ge=0, le=100_000, decimal_places=2)]


class Grant(_Strict):
    services: list[ServiceGrant] = []
    subsidies: list[SubsidyGrant] = []
    service_cost_share: Annotated[Decimal, Field(ge=0, le=1, decimal_places=2)] | None = None
    care_bed: bool = False

    @model_validator(mode="after")
    def _not_empty(self) -> Grant:
        if not (self.services or self.subsidies or self.service_cost_share is not None or self.care_bed):
            raise ValueError("a rule must grant something")
        return self


class Rule(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    title: Text
    when: When
    grant: Grant


class ServiceList(_Strict):
    version: Literal[1]
    district: Annotated[str, Field(min_length=1, max_length=200)]
    effective_from: date
    note: Annotated[str, Field(max_length=2000)] = ""
    rules: Annotated[list[Rule], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> ServiceList:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} appears twice")
            seen.add(rule.id)
        return self


def parse(data: object) -> ServiceList:
    """Validate a decoded list; ``InvalidServiceList`` names every wrong field."""
    try:
        return ServiceList.model_validate(data)
    except ValidationError as e:
        reasons = [f"{'.'.join(str(p) for p in err['loc']) or '(list)'}: {err['msg']}" for err in e.errors()]
        raise InvalidServiceList(reasons) from None


def load(path: Path = DEFAULT_LIST) -> ServiceList:
    """Read and validate a list file (JSON)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidServiceList([f"{path.name}: {e}"]) from None
    return parse(data)


@dataclass(frozen=True)
class Elder:
    """What the list looks at: the latest assessed level (None: never assessed), categories, age."""

    level: Level | None
    categories: frozenset[Category]
    age: int | None


@dataclass(frozen=True)
class ServiceLine:
    kind: str
    unit: Literal["count", "minutes"]
    amount: int
    rules: tuple[str, ...]


@dataclass(frozen=True)
class SubsidyLine:
    name: Text
    monthly_yuan: Decimal
    rules: tuple[str, ...]


@dataclass(frozen=True)
class Entitlements:
    matched_rules: tuple[str, ...]
    services: tuple[ServiceLine, ...] = ()
    subsidies: tuple[SubsidyLine, ...] = ()
    service_cost_share: Decimal = Decimal(0)
    service_cost_share_rules: tuple[str, ...] = ()
    care_bed: bool = False
    care_bed_rules: tuple[str, ...] = field(default=())


def applies(when: When, elder: Elder) -> bool:
    """Whether every condition a rule states holds for this elder."""
    if when.levels is not None and (elder.level is None or elder.level.code not in when.levels):
        return False
    if when.categories_any is not None and not elder.categories.intersection(when.categories_any):
        return False
    if when.min_age is not None and (elder.age is None or elder.age < when.min_age):
        return False
    return not (when.max_age is not None and (elder.age is None or elder.age > when.max_age))


def _best(grants: Iterable[tuple[K, Decimal, str]]) -> dict[K, tuple[Decimal, tuple[str, ...]]]:
    """Per key the largest value and every rule that granted that value."""
    out: dict[K, tuple[Decimal, tuple[str, ...]]] = {}
    for key, value, rule in grants:
        if key not in out or value > out[key][0]:
            out[key] = (value, (rule,))
        elif value == out[key][0]:
            out[key] = (value, (*out[key][1], rule))
    return out


def evaluate(service_list: ServiceList, elder: Elder) -> Entitlements:
    """The elder's monthly entitlements under the list (see the module's note on how grants combine)."""
    rules = [r for r in service_list.rules if applies(r.when, elder)]
    services = _best(
        ((s.kind, "count" if s.count is not None else "minutes"), Decimal(s.count or s.minutes or 0), r.id)
        for r in rules
        for s in r.grant.services
    )
    subsidies = _best(
        ((s.name.zh, s.name.en), s.monthly_yuan, r.id) for r in rules for s in r.grant.subsidies
    )
    shares = _best(("share", r.grant.service_cost_share, r.id) for r in rules if r.grant.service_cost_share)
    beds = tuple(r.id for r in rules if r.grant.care_bed)
    share, share_rules = shares.get("share", (Decimal(0), ()))
    return Entitlements(
        matched_rules=tuple(r.id for r in rules),
        services=tuple(
            ServiceLine(kind=k, unit=u, amount=int(a), rules=ids)  # type: ignore[arg-type]
            for (k, u), (a, ids) in sorted(services.items())
        ),
        subsidies=tuple(
            SubsidyLine(name=Text(zh=zh, en=en), monthly_yuan=a, rules=ids)
            for (zh, en), (a, ids) in sorted(subsidies.items())
        ),
        service_cost_share=share or Decimal(0),
        service_cost_share_rules=share_rules,
        care_bed=bool(beds),
        care_bed_rules=beds,
    )


def age_in(year: int, birth_year: int | None) -> int | None:
    """Age reached in ``year`` (the registry keeps the birth year only, so the list's ages are by year)."""
    return None if birth_year is None else year - birth_year
