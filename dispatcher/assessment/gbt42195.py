"""The tables of GB/T 42195-2022 老年人能力评估规范 as data.

Sources and what was checked (the standard's own text was not available to the author of this module; the
tables below were taken from two independent transcriptions of the standard that agree item for item):

* Clause 4 / 表1: four first-level indicators — 自理能力, 基础运动能力, 精神状态, 感知觉与社会参与 — with 26
  second-level items (8 + 4 + 9 + 5).
* 附录B (老年人能力评估表), tables B.1–B.4: each item's answer options and their points. Item codes below are
  the appendix's numbers (``B.1.1`` … ``B.4.5``). Maxima: B.1 32, B.2 15, B.3 28, B.4 15; total 90.
* The ability-level table (能力等级划分, in the standard's clause on assessment results): total 90 能力完好,
  66–89 能力轻度受损, 46–65 能力中度受损, 30–45 能力重度受损, 0–29 能力完全丧失; a person in a coma (昏迷) is
  rated 能力完全丧失 directly; and the preliminary level is raised by one for a diagnosed dementia (ICD-10
  F00–F03) or other mental and behavioural disorder (F04–F99), or for two or more care-risk events (跌倒,
  走失, 噎食, 自杀/自伤, 其他) in the last 30 days. One transcription's note under B.3.9 reads "直接评定为重度失能"
  (the wording of the older MZ/T 039-2013); the level rules say 能力完全丧失, which is what this module does.
  The exact clause number of the level table is not cited here because it could not be confirmed.

The option texts are abbreviated; the assessor's form shows the standard's full wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Dimension(StrEnum):
    """First-level indicators (一级指标), by their appendix table."""

    SELF_CARE = "B.1"  # 自理能力
    MOBILITY = "B.2"  # 基础运动能力
    MENTAL = "B.3"  # 精神状态
    PERCEPTION_SOCIAL = "B.4"  # 感知觉与社会参与


DIMENSION_NAMES: dict[Dimension, tuple[str, str]] = {
    Dimension.SELF_CARE: ("自理能力", "Self-care"),
    Dimension.MOBILITY: ("基础运动能力", "Basic mobility"),
    Dimension.MENTAL: ("精神状态", "Mental state"),
    Dimension.PERCEPTION_SOCIAL: ("感知觉与社会参与", "Perception and social participation"),
}


@dataclass(frozen=True)
class Item:
    """One second-level item (二级指标): its code, names and the points its options may give."""

    code: str
    zh: str
    en: str
    points: tuple[int, ...]  # allowed scores, highest (most able) first

    @property
    def dimension(self) -> Dimension:
        return Dimension(self.code[:3])

    @property
    def max(self) -> int:
        return self.points[0]


_P4 = (4, 3, 2, 1, 0)
_P3 = (3, 2, 1, 0)
_P2 = (2, 1, 0)
_P1 = (1, 0)

ITEMS: tuple[Item, ...] = (
    # B.1 自理能力: 4 independent … 0 fully dependent and cannot cooperate
    Item("B.1.1", "进食", "Eating", _P4),
    Item("B.1.2", "修饰", "Grooming", _P4),
    Item("B.1.3", "洗澡", "Bathing", _P4),
    Item("B.1.4", "穿/脱上衣", "Dressing (upper body)", _P4),
    Item("B.1.5", "穿/脱裤子和鞋袜", "Dressing (trousers, shoes, socks)", _P4),
    Item("B.1.6", "小便控制", "Bladder control", _P4),
    Item("B.1.7", "大便控制", "Bowel control", _P4),
    Item("B.1.8", "如厕", "Toileting", _P4),
    # B.2 基础运动能力
    Item("B.2.1", "床上体位转移", "Turning and sitting up in bed", _P4),
    Item("B.2.2", "床椅转移", "Bed–chair transfer", _P4),
    Item("B.2.3", "平地行走", "Walking on level ground (about 50 m)", _P4),
    Item("B.2.4", "上下楼梯", "Stairs (10–15 steps)", _P3),
    # B.3 精神状态
    Item("B.3.1", "时间定向", "Orientation to time", _P4),
    Item("B.3.2", "空间定向", "Orientation to place", _P4),
    Item("B.3.3", "人物定向", "Orientation to people", _P4),
    Item("B.3.4", "记忆", "Memory", _P4),
    Item("B.3.5", "理解能力", "Understanding", _P4),
    Item("B.3.6", "表达能力", "Expression", _P4),
    Item("B.3.7", "攻击行为", "Aggressive behaviour (1 none in the last month, 0 present)", _P1),
    Item("B.3.8", "抑郁症状", "Depressive symptoms (1 none in the last month, 0 present)", _P1),
    Item("B.3.9", "意识水平", "Level of consciousness (2 alert, 1 drowsy/confused, 0 stupor or coma)", _P2),
    # B.4 感知觉与社会参与
    Item("B.4.1", "视力", "Vision (best corrected)", _P2),
    Item("B.4.2", "听力", "Hearing (with usual aids)", _P2),
    Item("B.4.3", "执行日常事务", "Managing daily affairs", _P4),
    Item("B.4.4", "使用交通工具外出", "Going out by transport", _P3),
    Item("B.4.5", "社会交往能力", "Social interaction", _P4),
)

ITEMS_BY_CODE: dict[str, Item] = {i.code: i for i in ITEMS}
DIMENSION_MAX: dict[Dimension, int] = {d: sum(i.max for i in ITEMS if i.dimension is d) for d in Dimension}
TOTAL_MAX = sum(DIMENSION_MAX.values())


class Level(IntEnum):
    """能力等级: the higher the value, the more the person's ability is impaired."""

    INTACT = 0  # 能力完好
    MILD = 1  # 能力轻度受损 (轻度失能)
    MODERATE = 2  # 能力中度受损 (中度失能)
    SEVERE = 3  # 能力重度受损 (重度失能)
    LOST = 4  # 能力完全丧失 (完全失能)

    @property
    def code(self) -> str:
        return self.name.lower()

    @classmethod
    def from_code(cls, code: str) -> Level:
        return cls[code.upper()]


LEVEL_NAMES: dict[Level, tuple[str, str]] = {
    Level.INTACT: ("能力完好", "Ability intact"),
    Level.MILD: ("能力轻度受损", "Mildly impaired"),
    Level.MODERATE: ("能力中度受损", "Moderately impaired"),
    Level.SEVERE: ("能力重度受损", "Severely impaired"),
    Level.LOST: ("能力完全丧失", "Ability lost"),
}

# Lowest total of each level (the level table); a total belongs to the first level whose floor it reaches.
LEVEL_FLOORS: tuple[tuple[int, Level], ...] = (
    (90, Level.INTACT),
    (66, Level.MILD),
    (46, Level.MODERATE),
    (30, Level.SEVERE),
    (0, Level.LOST),
)

RISK_EVENTS_TO_RAISE = 2  # care-risk events in the last 30 days that raise the level by one
