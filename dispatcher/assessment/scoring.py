"""Score a filled GB/T 42195-2022 form: dimension scores, total, preliminary and final ability level.

Every answer is checked before anything is added up; a form with any wrong answer is refused as a whole with
one reason per wrong field, so the back office can show each next to its question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from devices.errors import ValidationFailed
from dispatcher.assessment.gbt42195 import (
    DIMENSION_MAX,
    ITEMS,
    ITEMS_BY_CODE,
    LEVEL_FLOORS,
    RISK_EVENTS_TO_RAISE,
    TOTAL_MAX,
    Dimension,
    Level,
)

MAX_RISK_EVENTS = 1000  # a count beyond this is a typing error, not a month of care


@dataclass(frozen=True)
class Problem:
    """One refused field: where (``("answers", "B.1.1")``, ``("risk_events_30d",)``) and why."""

    loc: tuple[str, ...]
    reason: str


class InvalidAssessment(ValidationFailed):
    """The form was refused; ``problems`` says which fields and why."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        super().__init__(f"{'.'.join(first.loc)}: {first.reason}", code="invalid_assessment")
        self.problems = problems


@dataclass(frozen=True)
class Modifiers:
    """What besides the 26 items decides the level (the level table's notes)."""

    coma: bool = False  # 昏迷: rated 能力完全丧失 directly
    dementia_or_mental_disorder: bool = False  # diagnosed F00–F03 or F04–F99: one level higher
    risk_events_30d: int = 0  # 跌倒/走失/噎食/自杀自伤/其他 in the last 30 days: ≥ 2 gives one level higher


@dataclass(frozen=True)
class Result:
    dimension_scores: dict[Dimension, int]
    total: int
    preliminary: Level  # from the total alone
    level: Level  # after the adjustments
    adjustments: list[str] = field(default_factory=list)  # codes of the rules that changed the level


def level_for_total(total: int) -> Level:
    """The level table: 90 完好, 66–89 轻度, 46–65 中度, 30–45 重度, 0–29 完全丧失."""
    if not 0 <= total <= TOTAL_MAX:
        raise ValueError(f"total {total} outside 0..{TOTAL_MAX}")
    return next(level for floor, level in LEVEL_FLOORS if total >= floor)


def check(answers: Mapping[str, object], modifiers: Modifiers) -> list[Problem]:
    """Every problem with the form (empty: it can be scored)."""
    problems: list[Problem] = []
    for code in sorted(set(answers) - set(ITEMS_BY_CODE)):
        problems.append(Problem(("answers", str(code)), "not an item of GB/T 42195-2022 (B.1.1 … B.4.5)"))
    for item in ITEMS:
        if item.code not in answers:
            problems.append(Problem(("answers", item.code), f"{item.zh} ({item.en}) is not answered"))
            continue
        value = answers[item.code]
        allowed = ", ".join(str(p) for p in item.points)
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(
                Problem(("answers", item.code), f"{item.zh}: must be one of {allowed}, not {value!r}")
            )
        elif value not in item.points:
            problems.append(Problem(("answers", item.code), f"{item.zh}: {value} is not one of {allowed}"))
    risk = modifiers.risk_events_30d
    if isinstance(risk, bool) or not isinstance(risk, int) or not 0 <= risk <= MAX_RISK_EVENTS:
        problems.append(Problem(("risk_events_30d",), f"must be a whole number 0..{MAX_RISK_EVENTS}"))
    if modifiers.coma and answers.get("B.3.9") not in (0, None):
        problems.append(Problem(("answers", "B.3.9"), "意识水平 of a person in a coma (昏迷) is 0"))
    return problems


def score(answers: Mapping[str, object], modifiers: Modifiers | None = None) -> Result:
    """Score a form, or raise ``InvalidAssessment`` naming every wrong field."""
    mods = modifiers or Modifiers()
    problems = check(answers, mods)
    if problems:
        raise InvalidAssessment(problems)
    dims = dict.fromkeys(Dimension, 0)
    for item in ITEMS:
        value = answers[item.code]
        assert isinstance(value, int)
        dims[item.dimension] += value
    assert all(dims[d] <= DIMENSION_MAX[d] for d in Dimension)
    total = sum(dims.values())
    preliminary = level_for_total(total)
    level, adjustments = preliminary, []
    if mods.coma:
        level, adjustments = Level.LOST, ["coma"]
    else:
        # "有以下情况之一者" raises by one level, however many of them apply.
        reasons = []
        if mods.dementia_or_mental_disorder:
            reasons.append("dementia_or_mental_disorder")
        if mods.risk_events_30d >= RISK_EVENTS_TO_RAISE:
            reasons.append("risk_events")
        if reasons:
            level, adjustments = Level(min(preliminary + 1, Level.LOST)), reasons
    return Result(
        dimension_scores=dims, total=total, preliminary=preliminary, level=level, adjustments=adjustments
    )
