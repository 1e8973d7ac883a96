"""GB/T 42195-2022 scoring: worked examples built from the appendix B tables and the level table, and
properties (any valid form gets a level; any wrong answer is refused, naming the field)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.assessment.gbt42195 import ITEMS, ITEMS_BY_CODE, TOTAL_MAX, Dimension, Level
from dispatcher.assessment.scoring import InvalidAssessment, Modifiers, level_for_total, score


def full_marks() -> dict[str, object]:
    return {i.code: i.max for i in ITEMS}


def test_the_tables_have_26_items_and_90_points() -> None:
    assert len(ITEMS) == 26
    counts = {d: sum(1 for i in ITEMS if i.dimension is d) for d in Dimension}
    assert counts == {Dimension.SELF_CARE: 8, Dimension.MOBILITY: 4, Dimension.MENTAL: 9,
                      Dimension.PERCEPTION_SOCIAL: 5}  # fmt: skip
    assert TOTAL_MAX == 90


def test_full_marks_is_intact() -> None:
    r = score(full_marks())
    assert r.dimension_scores == {Dimension.SELF_CARE: 32, Dimension.MOBILITY: 15, Dimension.MENTAL: 28,
                                  Dimension.PERCEPTION_SOCIAL: 15}  # fmt: skip
    assert (r.total, r.preliminary, r.level, r.adjustments) == (90, Level.INTACT, Level.INTACT, [])


def test_one_point_short_is_mildly_impaired() -> None:
    """An elder who climbs stairs only with prompting (B.2.4 = 2) and is otherwise fully able: 89."""
    answers = full_marks() | {"B.2.4": 2}
    r = score(answers)
    assert (r.total, r.level) == (89, Level.MILD)


def test_worked_examples_from_mild_to_severe() -> None:
    """Needs help but does most herself with bathing and both dressing items (2 each), walks with a stick (3),
    stairs with help (1), needs help with daily affairs (2) and goes out only accompanied (1), otherwise able.
    B.1 32 - 3*2 = 26; B.2 4+4+3+1 = 12; B.3 28; B.4 2+2+2+1+4 = 11; total 77 → 能力轻度受损."""
    answers = full_marks() | {
        "B.1.3": 2,
        "B.1.4": 2,
        "B.1.5": 2,
        "B.2.3": 3,
        "B.2.4": 1,
        "B.4.3": 2,
        "B.4.4": 1,
    }
    r = score(answers)
    assert [r.dimension_scores[d] for d in Dimension] == [26, 12, 28, 11]
    assert (r.total, r.level) == (77, Level.MILD)
    # Time orientation and memory 3 (B.3 26), bladder 1 and bowel 2 (B.1 21): 21+12+26+11 = 70, still 轻度.
    worse = answers | {"B.3.1": 3, "B.3.4": 3, "B.1.6": 1, "B.1.7": 2}
    assert (score(worse).total, score(worse).level) == (70, Level.MILD)
    # All self-care at 0: 0+12+26+11 = 49 → 能力中度受损.
    dependent = worse | {f"B.1.{n}": 0 for n in range(1, 9)}
    assert (score(dependent).total, score(dependent).level) == (49, Level.MODERATE)
    # Bed mobility and transfers 2, walking 1, stairs 0 (B.2 5): 0+5+26+11 = 42 → 能力重度受损.
    bedbound = dependent | {"B.2.1": 2, "B.2.2": 2, "B.2.3": 1, "B.2.4": 0}
    assert (score(bedbound).total, score(bedbound).level) == (42, Level.SEVERE)


@pytest.mark.parametrize(
    ("total", "level"),
    [(90, Level.INTACT), (89, Level.MILD), (66, Level.MILD), (65, Level.MODERATE), (46, Level.MODERATE),
     (45, Level.SEVERE), (30, Level.SEVERE), (29, Level.LOST), (0, Level.LOST)],
)  # fmt: skip
def test_level_boundaries(total: int, level: Level) -> None:
    assert level_for_total(total) is level


def test_coma_is_lost_whatever_the_total() -> None:
    answers = full_marks() | {"B.3.9": 0}
    r = score(answers, Modifiers(coma=True))
    assert (r.total, r.preliminary, r.level, r.adjustments) == (88, Level.MILD, Level.LOST, ["coma"])


def test_dementia_or_two_risk_events_raise_one_level_once() -> None:
    answers = full_marks() | {"B.2.4": 2}  # 89, 轻度
    assert score(answers, Modifiers(dementia_or_mental_disorder=True)).level is Level.MODERATE
    assert score(answers, Modifiers(risk_events_30d=2)).level is Level.MODERATE
    assert score(answers, Modifiers(risk_events_30d=1)).level is Level.MILD
    both = score(answers, Modifiers(dementia_or_mental_disorder=True, risk_events_30d=3))
    assert (both.level, both.adjustments) == (Level.MODERATE, ["dementia_or_mental_disorder", "risk_events"])
    zero = {i.code: 0 for i in ITEMS}
    assert (
        score(zero, Modifiers(dementia_or_mental_disorder=True)).level is Level.LOST
    )  # cannot go past the end


def test_wrong_answers_are_refused_one_reason_each() -> None:
    answers: dict[str, object] = full_marks() | {"B.2.4": 4, "B.3.7": True, "X.9": 1}
    del answers["B.4.1"]
    with pytest.raises(InvalidAssessment) as e:
        score(answers, Modifiers(risk_events_30d=-1))
    locs = {p.loc: p.reason for p in e.value.problems}
    assert set(locs) == {("answers", "B.2.4"), ("answers", "B.3.7"), ("answers", "X.9"), ("answers", "B.4.1"),
                         ("risk_events_30d",)}  # fmt: skip
    assert "4 is not one of 3, 2, 1, 0" in locs[("answers", "B.2.4")]
    assert "not answered" in locs[("answers", "B.4.1")]


def test_coma_with_a_conscious_answer_is_refused() -> None:
    with pytest.raises(InvalidAssessment) as e:
        score(full_marks(), Modifiers(coma=True))
    assert e.value.problems[0].loc == ("answers", "B.3.9")


valid_answers = st.fixed_dictionaries({i.code: st.sampled_from(i.points) for i in ITEMS})
modifiers = st.builds(Modifiers, coma=st.just(False), dementia_or_mental_disorder=st.booleans(),
                      risk_events_30d=st.integers(0, 10))  # fmt: skip


@given(valid_answers, modifiers)
def test_any_valid_form_gets_a_level(answers: dict[str, int], mods: Modifiers) -> None:
    r = score(answers, mods)
    assert r.total == sum(answers.values()) == sum(r.dimension_scores.values())
    assert r.preliminary is level_for_total(r.total)
    raised = mods.dementia_or_mental_disorder or mods.risk_events_30d >= 2
    assert r.level == (min(r.preliminary + 1, Level.LOST) if raised else r.preliminary)


@given(valid_answers, st.integers(0, 10))
def test_a_lower_answer_never_gives_a_better_level(answers: dict[str, int], pick: int) -> None:
    item = ITEMS[pick % len(ITEMS)]
    lower = answers | {item.code: min(item.points)}
    assert score(lower).level >= score(answers).level


@given(
    valid_answers,
    st.sampled_from([i.code for i in ITEMS]),
    st.one_of(st.integers(-5, 10), st.text(max_size=3), st.none(), st.floats(), st.booleans()),
)
def test_any_wrong_answer_is_refused_with_its_item(answers: dict[str, Any], code: str, value: object) -> None:
    item = ITEMS_BY_CODE[code]
    if isinstance(value, int) and not isinstance(value, bool) and value in item.points:
        return
    bad = answers | {code: value}
    with pytest.raises(InvalidAssessment) as e:
        score(bad)
    assert [p.loc for p in e.value.problems] == [("answers", code)]
    assert e.value.problems[0].reason
