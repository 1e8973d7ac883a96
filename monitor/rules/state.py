"""Per-home rule state (timers, presence, device health) and learned episodes, both JSON-serialisable."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self, TypeVar, get_type_hints

STATE_VERSION = 1
MAX_EPISODES = 20_000
MAX_SLOT_DAYS = 60
_T = TypeVar("_T")


@dataclass
class HomeState:
    """Everything the rules remember about one home between readings; persist it with ``to_json``.

    Times are timezone-aware; they only ever move forward (clock-skewed readings cannot pull them back).
    """

    version: int = STATE_VERSION
    since: datetime | None = None  # first time this state saw anything
    latest_at: datetime | None = None  # latest time seen (reading, capped at now, or tick)
    # Activity and where the resident is.
    last_activity_at: datetime | None = None
    last_activity_room: str | None = None
    last_activity_key: str | None = None  # room, or "bed"/"chair" while occupied
    room_last: dict[str, datetime] = field(default_factory=dict)
    bed_since: datetime | None = None
    bed_left_at: datetime | None = None  # when the bed was last vacated (None while occupied or unknown)
    chair_since: datetime | None = None
    posture_on_at: dict[str, datetime] = field(default_factory=dict)  # bed/chair device -> last "occupied"
    posture_pulse: list[str] = field(default_factory=list)  # beds/chairs whose "empty" came as a pulse's end
    bathroom_since: datetime | None = None
    up_at: datetime | None = None
    up_first_at: datetime | None = None  # first time up (outside bedroom and bathroom) today, from 04:00
    woke_at: datetime | None = None  # got up (out of bed for good, or up as above) on the latest morning
    # Presence: "home" or "out" (inferred from the front door / entrance and what follows).
    presence: str = "home"
    exit_at: datetime | None = None
    out_since: datetime | None = None
    returned_at: datetime | None = None
    door_while_out_at: datetime | None = None
    return_hits: list[datetime] = field(default_factory=list)
    night_door_at: datetime | None = None
    # Water.
    last_water_at: datetime | None = None
    water_total_l: float | None = None
    # Devices.
    last_seen: dict[str, datetime] = field(default_factory=dict)
    heartbeat_devices: list[str] = field(default_factory=list)
    battery_low: list[str] = field(default_factory=list)
    hazards: dict[str, list[str]] = field(default_factory=dict)  # kind -> devices reporting it
    hazard_at: dict[str, datetime] = field(default_factory=dict)  # "kind:device" -> last applied
    temp_value: dict[str, float] = field(default_factory=dict)
    temp_at: dict[str, datetime] = field(default_factory=dict)
    temp_out_since: dict[str, datetime] = field(default_factory=dict)
    temp_out_dir: dict[str, str] = field(default_factory=dict)
    # Conditions currently raised: kind -> started_at.
    active: dict[str, datetime] = field(default_factory=dict)

    def to_json(self) -> str:
        return _dumps(self, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        return _decode(cls, json.loads(text))


@dataclass
class Episodes:
    """Completed behaviour episodes observed while replaying readings; the raw material of a baseline."""

    gaps: list[tuple[str, int, float]] = field(default_factory=list)  # (room key, local hour, minutes)
    wakes: list[float] = field(default_factory=list)  # local minutes after midnight of the day's getting up
    wake_days: list[tuple[float, int]] = field(default_factory=list)  # (the same minutes, local weekday)
    water_gaps: list[float] = field(default_factory=list)  # minutes
    bathroom_stays: list[float] = field(default_factory=list)  # minutes
    outings: list[tuple[float, int]] = field(default_factory=list)  # (minutes, local hour it started)
    # "room key|local hour" -> the local dates (ISO, oldest first) on which a still spell of that key began
    # in that hour, however short: how well the learner knows that slot (``gaps`` keeps only the long ones).
    slot_days: dict[str, list[str]] = field(default_factory=dict)
    first_at: datetime | None = None
    last_at: datetime | None = None

    def seen(self, t: datetime) -> None:
        self.first_at = t if self.first_at is None else min(self.first_at, t)
        self.last_at = t if self.last_at is None else max(self.last_at, t)

    def visit(self, key: str, hour: int, day: str) -> None:
        """Note that a still spell of ``key`` began at local ``hour`` on local date ``day`` (ISO)."""
        days = self.slot_days.setdefault(f"{key}|{hour}", [])
        if not days or days[-1] != day:
            days.append(day)

    def trim(self) -> None:
        """Keep only the most recent episodes of each list."""
        for name in ("gaps", "wakes", "wake_days", "water_gaps", "bathroom_stays", "outings"):
            values = getattr(self, name)
            if len(values) > MAX_EPISODES:
                del values[: len(values) - MAX_EPISODES]
        for days in self.slot_days.values():
            del days[: max(0, len(days) - MAX_SLOT_DAYS)]

    @property
    def span_days(self) -> float:
        if self.first_at is None or self.last_at is None:
            return 0.0
        return (self.last_at - self.first_at).total_seconds() / 86400

    def to_json(self) -> str:
        return _dumps(self)

    @classmethod
    def from_json(cls, text: str) -> Self:
        data = json.loads(text)
        data["gaps"] = [tuple(g) for g in data.get("gaps", [])]
        data["outings"] = [tuple(o) for o in data.get("outings", [])]
        data["wake_days"] = [tuple(w) for w in data.get("wake_days", [])]
        return _decode(cls, data)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _dumps(obj: object, *, sort_keys: bool = False) -> str:
    """JSON of a flat state dataclass; datetimes as ISO 8601 (dataclasses.asdict deep-copies: too slow here)."""
    data = {name: getattr(obj, name) for name in _names(type(obj))}  # type: ignore[arg-type]
    return json.dumps(data, default=_iso, sort_keys=sort_keys)


@functools.cache
def _hints(cls: type) -> dict[str, str]:
    """Field type names of a state dataclass (get_type_hints is slow: computed once per class)."""
    return {name: str(hint) for name, hint in get_type_hints(cls).items()}


def _decode(cls: type[_T], data: dict[str, Any]) -> _T:
    hints = _hints(cls)  # type: ignore[arg-type]
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value, hint = data[f.name], hints[f.name]
        if value is None:
            out[f.name] = None
        elif hint == "datetime.datetime | None":
            out[f.name] = datetime.fromisoformat(value)
        elif hint == "dict[str, datetime.datetime]":
            out[f.name] = {k: datetime.fromisoformat(v) for k, v in value.items()}
        elif hint == "list[datetime.datetime]":
            out[f.name] = [datetime.fromisoformat(v) for v in value]
        else:
            out[f.name] = value
    return cls(**out)
