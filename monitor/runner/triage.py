"""Cheap evaluation of routine readings: fold every reading, run the rules only when the reading can matter."""

from __future__ import annotations

import dataclasses
import operator
from datetime import datetime, timedelta
from typing import Any

from devices.types import Reading
from monitor.rules.candidate import AlertCandidate
from monitor.rules.engine import fold_reading, reading_candidates
from monitor.rules.state import HomeState
from monitor.runner.homes import HomeRules

# Fields a reading only ever refreshes (times that move forward): a newer value makes no rule start.
# Inactivity, offline devices and "not up" only grow less true when they move; everything else in the
# state is compared before and after the fold.
FRESHNESS_FIELDS = frozenset({"latest_at", "last_activity_at", "last_seen", "room_last", "up_at"})
EVENT_KEYS = frozenset({"action", "fall"})  # point events (SOS, fall): always evaluated at once
REEVALUATE_EVERY = timedelta(seconds=1)
_FIELDS = [f for f in dataclasses.fields(HomeState) if f.name not in FRESHNESS_FIELDS]
_CONTAINERS = tuple(f.name for f in _FIELDS if f.default_factory is not dataclasses.MISSING)
_scalars = operator.attrgetter(*(f.name for f in _FIELDS if f.default_factory is dataclasses.MISSING))


def signature(state: HomeState) -> tuple[Any, ...]:
    """Everything in ``state`` but its freshness times, copied so that later in-place changes show."""
    out: list[Any] = [_scalars(state)]
    for name in _CONTAINERS:
        value = getattr(state, name)
        if not value:
            out.append(None)
        elif isinstance(value, dict):
            out.append({k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
        else:
            out.append(tuple(value))
    return tuple(out)


def evaluate(
    home: HomeRules, reading: Reading, now: datetime, *, every: timedelta = REEVALUATE_EVERY
) -> list[AlertCandidate]:
    """``engine.on_reading`` for the rules process, skipping rule evaluation when it cannot change anything.

    The rules run (exactly as ``on_reading``) when the reading carries a point event, when the home has
    a condition raised (so a clear is never late), when the fold changed anything but freshness times,
    or when they last ran ``every`` ago or more. Otherwise the reading is only folded in: the rules
    found nothing last time, and a refresh makes none of them start. A condition that starts merely
    because time passed is found by the next evaluation, at most ``every`` (or one clock tick) later.

    Returns:
        Candidates to raise or clear (events first), as ``on_reading`` returns them.
    """
    state = home.state
    last = home.evaluated_at
    full = (
        not EVENT_KEYS.isdisjoint(reading.values)
        or bool(state.active)
        or last is None
        or not last <= now < last + every
    )
    before = None if full else signature(state)
    fold_reading(state, home.ctx, home.settings, reading, now)
    if before is not None and signature(state) == before:
        return []
    home.evaluated_at = now
    return reading_candidates(state, home.ctx, home.settings, home.baseline, reading, now)
