"""The pure rule engine: fold readings and clock ticks into a home's state and return alert candidates.

No I/O and no clock: the caller passes ``now`` and persists ``state`` (``HomeState.to_json``) after each
call, so timers survive a restart. Conditions are raised once when they start and cleared once when they
end (``AlertCandidate.clear``); point events (SOS, fall) are raised on every occurrence.
"""

from __future__ import annotations

import copy
from datetime import datetime

from devices.types import Reading
from monitor.rules.baseline import Baseline
from monitor.rules.candidate import AlertCandidate, Finding
from monitor.rules.context import HomeContext, ResidentSettings
from monitor.rules.health import health_findings
from monitor.rules.immediate import event_findings, hazard_findings, temperature_findings
from monitor.rules.kinds import (
    DEFAULT_SEVERITY,
    HEALTH_KINDS,
    RESIDENT_KINDS,
    ROUTINE_KINDS,
    AlertKind,
    Severity,
)
from monitor.rules.routine import routine_findings
from monitor.rules.signals import advance, apply_reading
from monitor.rules.state import Episodes, HomeState
from monitor.rules.waking import confirm_wake


def on_reading(
    state: HomeState,
    ctx: HomeContext,
    settings: ResidentSettings,
    baseline: Baseline,
    reading: Reading,
    now: datetime,
    *,
    episodes: Episodes | None = None,
) -> list[AlertCandidate]:
    """Fold one reading into ``state`` (mutated in place) and evaluate every rule at ``now``.

    A reading stamped after ``now`` counts as ``now``; one older than what the state has already seen is
    still recorded (an SOS is an SOS) but never moves a timer backwards.

    Args:
        state: the home's rule state; persist it afterwards.
        ctx: the home.
        settings: the resident's validated settings.
        baseline: the resident's baseline (``Baseline()`` for defaults).
        reading: the decoded reading.
        now: the current time (timezone-aware).
        episodes: when given, completed behaviour episodes are appended to it (for the next baseline).

    Returns:
        Candidates to raise or clear, events first.
    """
    fold_reading(state, ctx, settings, reading, now, episodes=episodes)
    return reading_candidates(state, ctx, settings, baseline, reading, now)


def fold_reading(
    state: HomeState,
    ctx: HomeContext,
    settings: ResidentSettings,
    reading: Reading,
    now: datetime,
    *,
    episodes: Episodes | None = None,
) -> None:
    """The first half of ``on_reading``: fold ``reading`` into ``state`` and move its clock to ``now``."""
    t = min(reading.ts, now)
    advance(state, t)
    apply_reading(state, ctx, reading, t, night=settings.night, episodes=episodes)
    advance(state, now)
    confirm_wake(state, ctx.tz, now, episodes=episodes)


def reading_candidates(
    state: HomeState,
    ctx: HomeContext,
    settings: ResidentSettings,
    baseline: Baseline,
    reading: Reading,
    now: datetime,
) -> list[AlertCandidate]:
    """The second half of ``on_reading``: the reading's point events and every rule evaluated at ``now``.

    Returns:
        Candidates to raise or clear, events first.
    """
    t = min(reading.ts, now)
    info = ctx.device(reading.device_id, reading.kind)
    events = [f for f in event_findings(reading, info, t) if _allowed(f.kind, ctx, settings, now)]
    out = [_candidate(f, ctx, settings, now) for f in events]
    return out + _diff(state, ctx, settings, _conditions(state, ctx, settings, baseline, now), now)


def on_tick(
    state: HomeState, ctx: HomeContext, settings: ResidentSettings, baseline: Baseline, now: datetime
) -> list[AlertCandidate]:
    """Evaluate the time-based rules at ``now`` (absence of events is the signal); mutates ``state``.

    Returns:
        Candidates to raise or clear.
    """
    advance(state, now)
    confirm_wake(state, ctx.tz, now)
    return _diff(state, ctx, settings, _conditions(state, ctx, settings, baseline, now), now)


class Engine:
    """The same two entry points as a class, for callers that prefer an object."""

    on_reading = staticmethod(on_reading)
    on_tick = staticmethod(on_tick)


def _conditions(
    state: HomeState, ctx: HomeContext, settings: ResidentSettings, baseline: Baseline, now: datetime
) -> list[Finding]:
    found = hazard_findings(state, ctx) + temperature_findings(state, settings, now)
    away = _away(ctx, settings, now)
    if not away:
        found += routine_findings(_since_back(state, settings, now), ctx, settings, baseline, now)
    resident_home = ctx.resident_id is not None and not away and state.presence == "home"
    found += health_findings(state, ctx, settings, now, resident_home=resident_home)
    return [f for f in found if _allowed(f.kind, ctx, settings, now)]


def _away(ctx: HomeContext, settings: ResidentSettings, now: datetime) -> bool:
    return ctx.away or settings.away_at(now)


def _since_back(state: HomeState, settings: ResidentSettings, now: datetime) -> HomeState:
    """The state as the routine rules see it after an away period: their timers restart at its end.

    Nobody is expected to move about a home they are away from; once the period is over, "no movement
    for N hours" counts from its end (a return later than planned is a ``no_activity`` notice in time).
    """
    back = settings.back_since(now)
    if back is None:
        return state
    times = ("last_activity_at", "out_since", "bathroom_since", "last_water_at", "night_door_at")
    stale = [n for n in times if (t := getattr(state, n)) is not None and t < back]
    if not stale:
        return state
    view = copy.copy(state)
    for name in stale:
        setattr(view, name, None if name == "night_door_at" else back)
    return view


def _allowed(kind: AlertKind, ctx: HomeContext, settings: ResidentSettings, now: datetime) -> bool:
    if not settings.enabled(kind):
        return False
    if ctx.resident_id is None and kind in RESIDENT_KINDS:
        return False
    return not (kind in ROUTINE_KINDS and _away(ctx, settings, now))


def _diff(
    state: HomeState, ctx: HomeContext, settings: ResidentSettings, found: list[Finding], now: datetime
) -> list[AlertCandidate]:
    by_kind = {f.kind: f for f in found}
    out: list[AlertCandidate] = []
    for kind, finding in by_kind.items():
        if kind.value not in state.active:
            state.active[kind.value] = finding.started_at
            out.append(_candidate(finding, ctx, settings, now))
    for name in sorted(state.active):
        kind = AlertKind(name)
        if kind not in by_kind:
            started = state.active.pop(name)
            out.append(_cleared(kind, started, ctx, now))
    return out


def _candidate(
    finding: Finding, ctx: HomeContext, settings: ResidentSettings, now: datetime
) -> AlertCandidate:
    return AlertCandidate(
        home_id=ctx.home_id,
        resident_id=ctx.resident_id,
        kind=finding.kind,
        severity=finding.level,
        started_at=finding.started_at,
        detected_at=now,
        evidence=finding.evidence,
        reason_zh=finding.reason_zh,
        reason_en=finding.reason_en,
        notify_after=_notify_after(finding, ctx, settings, now),
    )


def _cleared(kind: AlertKind, started: datetime, ctx: HomeContext, now: datetime) -> AlertCandidate:
    return AlertCandidate(
        home_id=ctx.home_id,
        resident_id=ctx.resident_id,
        kind=kind,
        severity=DEFAULT_SEVERITY[kind],
        started_at=started,
        detected_at=now,
        evidence={},
        reason_zh="情况已恢复正常",
        reason_en="condition cleared",
        clear=True,
    )


def _notify_after(
    finding: Finding, ctx: HomeContext, settings: ResidentSettings, now: datetime
) -> datetime | None:
    """Low/medium routine and device-health alerts raised in quiet hours wait until the quiet hours end."""
    quiet = settings.quiet_hours
    if quiet is None or finding.level not in (Severity.LOW, Severity.MEDIUM):
        return None
    if finding.kind not in ROUTINE_KINDS | HEALTH_KINDS:
        return None
    local = now.astimezone(ctx.tz)
    return quiet.end_after(local) if quiet.contains(local) else None
