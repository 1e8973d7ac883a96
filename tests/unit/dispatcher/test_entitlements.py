"""The basic eldercare service list: the shipped file loads; rules apply by level, category and age; grants
combine by the largest, not the sum; any invalid rule refuses the list with the field and the reason."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dispatcher.assessment.gbt42195 import Level
from dispatcher.domain import TaskKind
from dispatcher.entitlements.rules import (
    DEFAULT_LIST,
    Category,
    Elder,
    InvalidServiceList,
    ServiceKind,
    evaluate,
    load,
    parse,
)

RAW: dict[str, Any] = json.loads(DEFAULT_LIST.read_text(encoding="utf-8"))


def elder(level: Level | None, *cats: Category, age: int | None = 75) -> Elder:
    return Elder(level=level, categories=frozenset(cats), age=age)


def test_grantable_kinds_are_task_kinds() -> None:
    assert set(get_args(ServiceKind)) <= {k.value for k in TaskKind}


def test_the_shipped_list_loads() -> None:
    assert len(load().rules) == len(RAW["rules"]) > 0


def test_no_category_no_assessment_young_gets_nothing() -> None:
    e = evaluate(load(), elder(None, age=65))
    assert (len(e.matched_rules), len(e.services), len(e.subsidies)) == (0, 0, 0)
    assert (e.care_bed, e.service_cost_share) == (False, Decimal(0))


def test_dibao_severe_living_alone_86() -> None:
    e = evaluate(load(), elder(Level.SEVERE, Category.DIBAO, Category.LIVING_ALONE, age=86))
    assert e.matched_rules == ("poor-severe-care", "alone-visits", "age-80-allowance")
    assert [(s.kind, s.unit, s.amount) for s in e.services] == [
        ("bathing", "count", 4), ("cleaning", "minutes", 240), ("visit", "count", 8)]  # fmt: skip
    # The visit grant of 8 beats alone-visits' 2: grants combine by the largest, they do not add up.
    assert next(s for s in e.services if s.kind == "visit").rules == ("poor-severe-care",)
    assert [(s.name.zh, s.monthly_yuan) for s in e.subsidies] == [
        ("经济困难失能老年人护理补贴", Decimal(300)),
        ("高龄津贴", Decimal(50)),
    ]
    assert e.service_cost_share == Decimal("0.9")
    assert (e.care_bed, e.care_bed_rules) == (True, ("poor-severe-care",))


def test_level_decides_between_rules() -> None:
    moderate = evaluate(load(), elder(Level.MODERATE, Category.DIBAO))
    assert moderate.matched_rules == ("poor-moderate-care",)
    assert not moderate.care_bed
    assert evaluate(load(), elder(Level.MILD, Category.DIBAO)).matched_rules == ()
    assert evaluate(load(), elder(None, Category.DIBAO)).matched_rules == ()  # never assessed: no level rules


def test_age_bounds_are_inclusive() -> None:
    names = {a: [(s.name.zh, s.monthly_yuan) for s in evaluate(load(), elder(None, age=a)).subsidies]
             for a in (79, 80, 89, 90)}  # fmt: skip
    assert names == {
        79: [],
        80: [("高龄津贴", Decimal(50))],
        89: [("高龄津贴", Decimal(50))],
        90: [("高龄津贴", Decimal(100))],
    }
    assert evaluate(load(), elder(None, age=None)).matched_rules == ()


def _refused(data: Any) -> list[str]:
    with pytest.raises(InvalidServiceList) as e:
        parse(data)
    return e.value.reasons


@pytest.mark.parametrize(
    ("change", "where", "why"),
    [
        (lambda d: d["rules"][1]["when"].update(levels=["medium"]), "rules.1.when.levels.0", "Input should be"),
        (lambda d: d["rules"][0]["when"].update(categories_any=["rich"]), "rules.0.when.categories_any.0", ""),
        (lambda d: d["rules"][0]["grant"]["services"][0].update(minutes=30), "rules.0.grant.services.0",
         "exactly one of count"),
        (lambda d: d["rules"][0]["grant"]["services"][0].update(kind="massage"), "rules.0.grant.services.0.kind", ""),
        (lambda d: d["rules"][0]["grant"].update(service_cost_share=1.5), "rules.0.grant.service_cost_share", ""),
        (lambda d: d["rules"][7]["when"].update(min_age=95), "rules.7.when", "min_age 95 is above max_age 89"),
        (lambda d: d["rules"][2].update(id=d["rules"][1]["id"]), "(list)", "appears twice"),
        (lambda d: d["rules"][0]["when"].update(categorie_any=["tekun"]), "rules.0.when.categorie_any", "Extra"),
        (lambda d: d["rules"][5].update(grant={}), "rules.5.grant", "must grant something"),
        (lambda d: d.update(version=2), "version", ""),
        (lambda d: d["rules"][7]["grant"]["subsidies"][0].update(monthly_yuan=-1), "rules.7.grant.subsidies.0.monthly_yuan", ""),
    ],
)  # fmt: skip
def test_invalid_rules_are_refused_with_the_reason(change: Any, where: str, why: str) -> None:
    data = copy.deepcopy(RAW)
    change(data)
    reasons = _refused(data)
    assert any(r.startswith(where + ":") and why in r for r in reasons), reasons


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "list.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(InvalidServiceList, match=r"list\.json"):
        load(bad)


elders = st.builds(
    Elder,
    level=st.one_of(st.none(), st.sampled_from(Level)),
    categories=st.frozensets(st.sampled_from(Category)),
    age=st.one_of(st.none(), st.integers(0, 120)),
)


@given(elders)
def test_every_line_is_the_largest_grant_of_a_matching_rule(e: Elder) -> None:
    sl = load()
    out = evaluate(sl, e)
    matched = [r for r in sl.rules if r.id in out.matched_rules]
    for line in out.services:
        grants = [s.count if line.unit == "count" else s.minutes for r in matched for s in r.grant.services
                  if s.kind == line.kind and (s.count if line.unit == "count" else s.minutes) is not None]  # fmt: skip
        assert line.amount == max(g for g in grants if g is not None)
        assert set(line.rules) <= set(out.matched_rules)
    assert out.care_bed == any(r.grant.care_bed for r in matched)
    assert 0 <= out.service_cost_share <= 1


@given(st.sampled_from(range(len(RAW["rules"]))), st.sampled_from(["when", "grant", "title", "id"]),
       st.one_of(st.integers(), st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=2)))  # fmt: skip
def test_garbage_in_any_rule_field_is_refused_not_crashed(i: int, key: str, value: object) -> None:
    assume(not (key == "id" and isinstance(value, str)))  # a short text can be a valid id
    data = copy.deepcopy(RAW)
    data["rules"][i][key] = value
    reasons = _refused(data)
    assert any(r.startswith(f"rules.{i}.{key}") for r in reasons), reasons
