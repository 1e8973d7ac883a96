"""Incident kinds, the SPEC grammar that schedules them, its validation, and ground-truth records.

Grammar (items separated by commas, whitespace around items ignored)::

    SPEC     := ITEM ("," ITEM)*
    ITEM     := KIND ["@" WHEN [".." WHEN | "+" DURATION] | "+" DURATION] ["/" HOME_ID]
              | "random:" RATE [":" KIND ("|" KIND)*]
    WHEN     := ISO-8601 date-time (no offset = the simulation's local time), e.g. 2026-11-23T07:30:00
              | "day" N [(" " | "T") HH:MM[:SS]]      N = 1 is the first simulated day
    DURATION := one or more of <int>d <int>h <int>m <int>s, e.g. 90m, 1h30m, 3d
    RATE     := expected incidents per home per simulated day (0 .. 10)

Without ``@`` the day is chosen per home from the seed; without a time of day the time suits the kind
(a fall during a visit to that room, not getting up at the usual wake time, a night exit at night...).
Without ``+``/``..`` the kind's default duration applies. Without ``/HOME_ID`` it applies to every home.
Examples: ``fall_bathroom@2026-11-23T07:30:00+1h``, ``smoke@day2 10:00``, ``gateway_offline+2h/h00003``,
``random:0.05``, ``random:0.2:fall_kitchen|sos``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Any, TextIO

from simulators.errors import IncidentSpecError


class IncidentKind(StrEnum):
    """Every incident the simulator can inject."""

    FALL_BATHROOM = "fall_bathroom"
    FALL_BEDROOM = "fall_bedroom"
    FALL_KITCHEN = "fall_kitchen"
    SOS = "sos"
    NOT_UP_IN_MORNING = "not_up_in_morning"
    NO_WATER_USE = "no_water_use"
    NIGHT_EXIT_NO_RETURN = "night_exit_no_return"
    LONG_BATHROOM_STAY = "long_bathroom_stay"
    SMOKE = "smoke"
    GAS = "gas"
    WATER_LEAK = "water_leak"
    INDOOR_COLD = "indoor_cold"
    INDOOR_HEAT = "indoor_heat"
    DEVICE_SILENT = "device_silent"
    BATTERY_DEPLETED = "battery_depleted"
    GATEWAY_OFFLINE = "gateway_offline"
    RESIDENT_AWAY = "resident_away"


K = IncidentKind
H, M = 3600.0, 60.0
DEFAULT_DURATION: dict[IncidentKind, float] = {
    K.FALL_BATHROOM: 2 * H,
    K.FALL_BEDROOM: 2 * H,
    K.FALL_KITCHEN: 2 * H,
    K.SOS: 30 * M,
    K.NOT_UP_IN_MORNING: 4 * H,
    K.NO_WATER_USE: 16 * H,
    K.NIGHT_EXIT_NO_RETURN: 6 * H,
    K.LONG_BATHROOM_STAY: 2 * H,
    K.SMOKE: 20 * M,
    K.GAS: 30 * M,
    K.WATER_LEAK: 2 * H,
    K.INDOOR_COLD: 12 * H,
    K.INDOOR_HEAT: 8 * H,
    K.DEVICE_SILENT: 24 * H,
    K.BATTERY_DEPLETED: 24 * H,
    K.GATEWAY_OFFLINE: 3 * H,
    K.RESIDENT_AWAY: 72 * H,
}
# Incidents that change what the resident does (at most one at a time per home).
BEHAVIOURAL = frozenset(
    {K.FALL_BATHROOM, K.FALL_BEDROOM, K.FALL_KITCHEN, K.NOT_UP_IN_MORNING}
    | {K.NIGHT_EXIT_NO_RETURN, K.LONG_BATHROOM_STAY, K.RESIDENT_AWAY}
)


@dataclass(frozen=True, slots=True)
class SpecItem:
    """One parsed schedule item; ``day`` is 0-based, ``start``/``end`` are set only for explicit times."""

    kind: IncidentKind
    home_id: str | None = None
    day: int | None = None
    time_of_day: time | None = None
    start: datetime | None = None
    end: datetime | None = None
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class Spec:
    """A parsed SPEC: scheduled items plus an optional random rate over some kinds."""

    items: tuple[SpecItem, ...] = ()
    rate: float = 0.0
    random_kinds: tuple[IncidentKind, ...] = tuple(IncidentKind)


@dataclass(frozen=True, slots=True)
class Planned:
    """An incident due on one home and day; ``start`` None means: pick a time that suits the kind."""

    kind: IncidentKind
    day: int
    start: float | None
    duration: float
    source: str


@dataclass(frozen=True, slots=True)
class TruthRecord:
    """Ground truth of one injected incident."""

    home: str
    kind: IncidentKind
    start: datetime
    end: datetime
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One JSON line (no newline): home, kind, start, end (RFC 3339 UTC), details; keys sorted."""
        row: dict[str, Any] = {"home": self.home, "kind": self.kind.value}
        row.update(start=_iso(self.start), end=_iso(self.end), details=self.details)
        return json.dumps(row, sort_keys=True, separators=(",", ":"))


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def jsonl_writer(fp: TextIO) -> Callable[[TruthRecord], None]:
    """Return a writer that appends each ground-truth record to ``fp`` as one JSON line and flushes."""

    def write(record: TruthRecord) -> None:
        fp.write(record.to_json() + "\n")
        fp.flush()

    return write


_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DAY_RE = re.compile(r"^day(\d+)(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_ITEM_RE = re.compile(
    r"^(?P<kind>[a-z_]+)(?:@(?P<when>[^/]+?))?(?:\+(?P<dur>[0-9dhms]+))?(?:/(?P<home>[^/]+))?$"
)


def parse_duration(text: str) -> float:
    """Parse ``1h30m``-style durations into seconds; raise IncidentSpecError if malformed or zero."""
    m = _DURATION_RE.match(text)
    if not text or m is None:
        raise IncidentSpecError(f"bad duration {text!r}: use e.g. 90m, 1h30m, 3d, 45s")
    days, hours, mins, secs = (int(g) if g else 0 for g in m.groups())
    seconds = days * 86400.0 + hours * 3600 + mins * 60 + secs
    if seconds <= 0:
        raise IncidentSpecError(f"duration {text!r} must be longer than zero")
    return seconds


def parse_kind(text: str) -> IncidentKind:
    """Return the incident kind named ``text`` or raise IncidentSpecError listing the known kinds."""
    try:
        return IncidentKind(text)
    except ValueError:
        known = ", ".join(k.value for k in IncidentKind)
        raise IncidentSpecError(f"unknown incident kind {text!r}; known kinds: {known}") from None


def _parse_when(text: str, item: dict[str, Any]) -> None:
    m = _DAY_RE.match(text.strip())
    if m:
        if int(m.group(1)) < 1:
            raise IncidentSpecError(f"{text!r}: days are numbered from day1 (the first simulated day)")
        item["day"] = int(m.group(1)) - 1
        if m.group(2) is not None:
            hh, mm, ss = int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
            if hh > 23 or mm > 59 or ss > 59:
                raise IncidentSpecError(f"bad time of day in {text!r}")
            item["time_of_day"] = time(hh, mm, ss)
        return
    try:
        item["start"] = datetime.fromisoformat(text.strip())
    except ValueError:
        raise IncidentSpecError(f"bad time {text!r}: use an ISO date-time or 'dayN [HH:MM]'") from None


def _parse_item(text: str) -> SpecItem:
    when_end: str | None = None
    body = text
    if ".." in body:
        body, rest = body.split("..", 1)
        when_end, _, home = rest.partition("/")
        body += f"/{home}" if home else ""
    m = _ITEM_RE.match(body)
    if m is None:
        raise IncidentSpecError(f"cannot parse incident item {text!r}; e.g. smoke@day2 10:00+30m/h00001")
    item: dict[str, Any] = {"kind": parse_kind(m.group("kind")), "home_id": m.group("home")}
    if m.group("when"):
        _parse_when(m.group("when"), item)
    if m.group("dur"):
        item["duration"] = parse_duration(m.group("dur"))
    if when_end is not None:
        if "start" not in item or item.get("duration") is not None:
            raise IncidentSpecError(f"{text!r}: 'START..END' needs two ISO date-times and no '+duration'")
        try:
            item["end"] = datetime.fromisoformat(when_end.strip())
        except ValueError:
            raise IncidentSpecError(f"bad end time {when_end!r} in {text!r}") from None
    return SpecItem(**item)


def _parse_random(text: str) -> tuple[float, tuple[IncidentKind, ...]]:
    parts = text.split(":")
    try:
        rate = float(parts[1])
    except (IndexError, ValueError):
        raise IncidentSpecError(f"bad random rate in {text!r}: use random:0.05") from None
    if not 0 <= rate <= 10:
        raise IncidentSpecError(f"random rate {rate} must be between 0 and 10 incidents per home-day")
    if len(parts) > 3:
        raise IncidentSpecError(f"{text!r}: use random:RATE or random:RATE:kind|kind")
    kinds = tuple(parse_kind(k) for k in parts[2].split("|")) if len(parts) == 3 else tuple(IncidentKind)
    return rate, kinds


def parse_spec(text: str) -> Spec:
    """Parse a SPEC string (see the module docstring) without checking it against a simulation."""
    items: list[SpecItem] = []
    rate, kinds = 0.0, tuple(IncidentKind)
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        if raw.startswith("random:"):
            rate, kinds = _parse_random(raw)
        else:
            items.append(_parse_item(raw))
    return Spec(tuple(items), rate, kinds)
