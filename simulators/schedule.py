"""Validate a parsed incident SPEC against a simulation and hand out each home's incidents day by day."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from simulators.clock import day_midnight
from simulators.errors import IncidentSpecError
from simulators.home import Home
from simulators.incidents import BEHAVIOURAL, DEFAULT_DURATION, IncidentKind, Planned, Spec, SpecItem
from simulators.resident import poisson

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class IncidentPlan:
    """Validated incidents: scheduled ones per (home, day) and a random rate drawn lazily per home-day."""

    seed: int
    rate: float = 0.0
    random_kinds: tuple[IncidentKind, ...] = ()
    scheduled: dict[tuple[str, int], list[Planned]] = field(default_factory=dict)
    gateway_homes: frozenset[str] = frozenset()
    homes: frozenset[str] | None = None  # the homes that get incidents (None: every home asked about)

    def for_home_day(self, home_id: str, day: int) -> list[Planned]:
        """Return the incidents whose start falls on ``day`` (0-based) of ``home_id``, scheduled first."""
        if self.homes is not None and home_id not in self.homes:
            return []
        planned = list(self.scheduled.get((home_id, day), ()))
        if self.rate <= 0:
            return planned
        rng = random.Random(f"{self.seed}|{home_id}|day{day}|random-incidents")
        kinds: list[IncidentKind] = [k for k in self.random_kinds if k is not IncidentKind.GATEWAY_OFFLINE]
        if home_id in self.gateway_homes and IncidentKind.GATEWAY_OFFLINE in self.random_kinds:
            kinds.append(IncidentKind.GATEWAY_OFFLINE)
        for _ in range(poisson(rng, self.rate) if kinds else 0):
            kind = rng.choice(kinds)
            duration = DEFAULT_DURATION[kind] * rng.uniform(0.5, 1.5)
            planned.append(Planned(kind, day, None, duration, "random"))
        return planned


def _aware(ts: datetime, start: datetime) -> datetime:
    return ts.replace(tzinfo=start.tzinfo) if ts.tzinfo is None else ts


def _explicit_window(item: SpecItem, *, start: datetime, days: int) -> tuple[datetime, datetime] | None:
    """Return (start, end) of an item with a fixed start, or None when the day/time is left to the seed."""
    begin: datetime | None = None
    if item.start is not None:
        begin = _aware(item.start, start)
    elif item.day is not None and item.time_of_day is not None:
        begin = datetime.combine(day_midnight(start, item.day).date(), item.time_of_day, tzinfo=start.tzinfo)
    if begin is None:
        return None
    if item.end is not None:
        end = _aware(item.end, start)
    else:
        end = begin + timedelta(seconds=item.duration or DEFAULT_DURATION[item.kind])
    return begin, end


def _check_window(item: SpecItem, begin: datetime, end: datetime, *, start: datetime, days: int) -> None:
    sim_end = day_midnight(start, days)
    label = f"{item.kind.value} at {begin.isoformat()}"
    if end <= begin:
        raise IncidentSpecError(f"impossible schedule: {label} ends ({end.isoformat()}) before it starts")
    if begin < start or end > sim_end:
        raise IncidentSpecError(
            f"impossible schedule: {label}..{end.isoformat()} is outside the simulated days "
            f"{start.isoformat()} .. {sim_end.isoformat()}"
        )


def _targets(item: SpecItem, homes: Sequence[Home]) -> list[Home]:
    if item.home_id is None:
        chosen = list(homes)
    else:
        chosen = [h for h in homes if h.home_id == item.home_id]
        if not chosen:
            raise IncidentSpecError(f"{item.kind.value}: no simulated home {item.home_id!r}")
    if item.kind is IncidentKind.GATEWAY_OFFLINE:
        without = [h.home_id for h in chosen if h.gateway_id is None]
        if item.home_id is not None and without:
            raise IncidentSpecError(f"gateway_offline: home {item.home_id} has no gateway")
        chosen = [h for h in chosen if h.gateway_id is not None]
        if not chosen:
            raise IncidentSpecError("gateway_offline: none of the simulated homes has a gateway")
    return chosen


def _plan_item(item: SpecItem, index: int, home: Home, *, start: datetime, days: int, seed: int) -> Planned:
    duration = item.duration or DEFAULT_DURATION[item.kind]
    window = _explicit_window(item, start=start, days=days)
    if window is not None:
        begin, end = window
        _check_window(item, begin, end, start=start, days=days)
        day = (begin.date() - start.date()).days
        return Planned(item.kind, day, begin.timestamp(), (end - begin).total_seconds(), "schedule")
    fits = days - math.ceil(duration / DAY)
    if item.day is not None:
        if item.day >= days:
            raise IncidentSpecError(f"{item.kind.value}@day{item.day + 1}: the simulation has {days} day(s)")
        return Planned(item.kind, item.day, None, duration, "schedule")
    if fits < 1 and duration > days * DAY:
        raise IncidentSpecError(f"{item.kind.value}: lasts longer than the {days}-day simulation")
    rng = random.Random(f"{seed}|{home.home_id}|spec{index}")
    return Planned(item.kind, rng.randrange(max(fits, 1)), None, duration, "schedule")


def _check_overlaps(plans: dict[tuple[str, int], list[Planned]]) -> None:
    by_home: dict[str, list[Planned]] = {}
    for (home_id, _), items in plans.items():
        by_home.setdefault(home_id, []).extend(
            p for p in items if p.kind in BEHAVIOURAL and p.start is not None
        )
    for home_id, items in by_home.items():
        items.sort(key=lambda p: p.start or 0.0)
        for a, b in itertools.pairwise(items):
            if (a.start or 0.0) + a.duration > (b.start or 0.0):
                raise IncidentSpecError(
                    f"impossible schedule: {a.kind.value} and {b.kind.value} overlap in home {home_id} "
                    "(the resident can do only one of them)"
                )


def validate(spec: Spec, *, start: datetime, days: int, homes: Sequence[Home], seed: int) -> IncidentPlan:
    """Check a parsed SPEC against the simulation and return the plan, or raise IncidentSpecError.

    Args:
        spec: from :func:`simulators.incidents.parse_spec`.
        start: aware simulation start; day 0 is the local day it falls on.
        days: number of simulated days.
        homes: the simulated homes that get incidents; any other home asking the plan gets none (so that
            one simulation can run incident-free control homes next to them on the same clock).
        seed: run seed (picks days and times left open).

    Returns:
        The plan to give each home's simulation.
    """
    if days < 1:
        raise IncidentSpecError("the simulation needs at least one day")
    scheduled: dict[tuple[str, int], list[Planned]] = {}
    for index, item in enumerate(spec.items):
        for home in _targets(item, homes):
            planned = _plan_item(item, index, home, start=start, days=days, seed=seed)
            scheduled.setdefault((home.home_id, planned.day), []).append(planned)
    _check_overlaps(scheduled)
    gateway_homes = frozenset(h.home_id for h in homes if h.gateway_id is not None)
    ids = frozenset(h.home_id for h in homes)
    return IncidentPlan(seed, spec.rate, spec.random_kinds, scheduled, gateway_homes, ids)
