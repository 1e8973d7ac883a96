"""Scoring of raised alerts against simulator ground truth (pure: no I/O, no clock)."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.rules.kinds import HEALTH_KINDS, AlertKind

A = AlertKind
_FALL = frozenset({A.FALL.value, A.INACTIVITY.value})
# Which alert kinds count as detecting each incident kind of the simulator (simulators/incidents.py).
EXPECTED: dict[str, frozenset[str]] = {
    "fall_bathroom": _FALL | {A.LONG_BATHROOM.value},
    "fall_bedroom": _FALL,
    "fall_kitchen": _FALL,
    "sos": frozenset({A.SOS.value}),
    "not_up_in_morning": frozenset({A.NOT_UP.value, A.INACTIVITY.value}),
    "no_water_use": frozenset({A.NO_WATER.value}),
    "night_exit_no_return": frozenset({A.NIGHT_EXIT.value}),
    "long_bathroom_stay": frozenset({A.LONG_BATHROOM.value, A.INACTIVITY.value}),
    "smoke": frozenset({A.SMOKE.value}),
    "gas": frozenset({A.GAS.value}),
    "water_leak": frozenset({A.WATER_LEAK.value}),
    "indoor_cold": frozenset({A.COLD.value}),
    "indoor_heat": frozenset({A.HEAT.value}),
    "device_silent": frozenset({A.DEVICE_OFFLINE.value, A.HOME_SILENT.value}),
    "battery_depleted": frozenset({A.BATTERY_LOW.value, A.DEVICE_OFFLINE.value}),
    "gateway_offline": frozenset({A.GATEWAY_OFFLINE.value, A.DEVICE_OFFLINE.value}),
    "resident_away": frozenset({A.NO_ACTIVITY.value}),
}
HEALTH = frozenset(k.value for k in HEALTH_KINDS)
_DEAD = frozenset({"device_silent", "battery_depleted"})


def unobservable(inc: Incident, incidents: Sequence[Incident]) -> bool:
    """The incident's own device was dead (silent, flat battery) when it began: no sensor could tell.

    The platform's part then is the device-offline alert, scored under the dead-device incident.
    """
    dev = inc.details.get("device_id")
    return (
        inc.kind not in _DEAD
        and dev is not None
        and any(
            o.kind in _DEAD and o.details.get("device_id") == dev and o.start <= inc.start < o.end
            for o in incidents
        )
    )


@dataclass(frozen=True, slots=True)
class Incident:
    """One injected incident (a ground-truth line); ``since`` is when its signs begin (<= start)."""

    home: str
    kind: str
    start: datetime
    end: datetime
    since: datetime
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert row: its home, kind, detection time (data time) and when its condition cleared."""

    id: int
    home: str
    kind: str
    detected_at: datetime
    cleared_at: datetime | None = None
    reason: str = ""


def parse_truth(lines: Iterable[str]) -> list[Incident]:
    """Parse simulator ground-truth JSON lines (blank lines are skipped).

    Raises:
        ValueError: a line is not a truth record.
    """
    out = []
    for line in lines:
        if not line.strip():
            continue
        row = json.loads(line)
        start, end = datetime.fromisoformat(row["start"]), datetime.fromisoformat(row["end"])
        details = dict(row.get("details") or {})
        since = datetime.fromisoformat(details["low_from"]) if "low_from" in details else start
        out.append(Incident(row["home"], row["kind"], start, end, min(since, start), details))
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, linear interpolation), or None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class Matching:
    """Result of matching: detection delay per incident (None: missed), masked incidents, matched alerts."""

    delays: dict[Incident, float | None] = field(default_factory=dict)
    masked: list[Incident] = field(default_factory=list)
    matched: set[int] = field(default_factory=set)


def _masked(inc: Incident, alerts: Sequence[Alert], kinds: frozenset[str]) -> bool:
    """An alert of an expected kind already open (not cleared) before the signs began: no new row can appear."""
    return any(
        a.kind in kinds and a.detected_at < inc.since and (a.cleared_at is None or a.cleared_at > inc.since)
        for a in alerts
    )


def match(incidents: Sequence[Incident], alerts: Sequence[Alert], *, grace: timedelta) -> Matching:
    """Match each incident to the first alert of an expected kind on its home detected in its window.

    The window is [since - 1 min, end + grace]. An alert may confirm several incidents (one open alert per
    home and kind). Incidents masked by an alert of an expected kind raised before them are set aside.
    """
    by_home: dict[str, list[Alert]] = {}
    for a in sorted(alerts, key=lambda a: a.detected_at):
        by_home.setdefault(a.home, []).append(a)
    m = Matching()
    for inc in sorted(incidents, key=lambda i: i.start):
        kinds, home_alerts = EXPECTED.get(inc.kind, frozenset()), by_home.get(inc.home, [])
        lo, hi = inc.since - timedelta(minutes=1), inc.end + grace
        hits = [a for a in home_alerts if a.kind in kinds and lo <= a.detected_at <= hi]
        m.matched.update(a.id for a in hits)
        if hits:
            m.delays[inc] = max((hits[0].detected_at - inc.start).total_seconds(), 0.0) / 60
        elif _masked(inc, home_alerts, kinds):
            m.masked.append(inc)
        else:
            m.delays[inc] = None
    return m


def missed(m: Matching, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """Each missed incident with the alert nearest in time on its home (any kind), for diagnosis."""
    out = []
    for inc in sorted((i for i, d in m.delays.items() if d is None), key=lambda i: (i.kind, i.start)):
        near = min(
            (a for a in alerts if a.home == inc.home),
            key=lambda a: abs((a.detected_at - inc.start).total_seconds()),
            default=None,
        )
        row: dict[str, Any] = {
            "home": inc.home, "kind": inc.kind, "start": inc.start.isoformat(), "end": inc.end.isoformat(),
            "details": {k: v for k, v in inc.details.items() if k != "source"}, "nearest_alert": None,
        }  # fmt: skip
        if near is not None:
            row["nearest_alert"] = {
                "kind": near.kind, "detected_at": near.detected_at.isoformat(), "reason": near.reason,
                "min_after_start": round((near.detected_at - inc.start).total_seconds() / 60, 1),
            }  # fmt: skip
        out.append(row)
    return out


def _rounded(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


def per_kind(m: Matching, alerts: Sequence[Alert]) -> dict[str, dict[str, Any]]:
    """Per incident kind: incidents, detected, masked, recall, precision, time to detect p50/p90 (minutes).

    Precision of kind K = alerts matched to a K incident / (those + unmatched alerts of a kind K expects):
    an unmatched inactivity alert counts against every kind that inactivity may detect.
    """
    unmatched = Counter(a.kind for a in alerts if a.id not in m.matched)
    out: dict[str, dict[str, Any]] = {}
    for kind in sorted({i.kind for i in m.delays} | {i.kind for i in m.masked}):
        delays = [d for i, d in m.delays.items() if i.kind == kind]
        found = [d for d in delays if d is not None]
        tp = len(found)
        fp = sum(unmatched[k] for k in EXPECTED.get(kind, frozenset()))
        out[kind] = {
            "incidents": len(delays),
            "detected": len(found),
            "masked": sum(1 for i in m.masked if i.kind == kind),
            "recall": _rounded(len(found) / len(delays)) if delays else None,
            "precision": _rounded(tp / (tp + fp)) if tp + fp else None,
            "time_to_detect_min_p50": _rounded(percentile(found, 50), 2),
            "time_to_detect_min_p90": _rounded(percentile(found, 90), 2),
        }
    return out


def false_alarms(
    alerts: Sequence[Alert], *, homes: Sequence[str], days: float, exclude: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """False alarms on incident-free ``homes`` over ``days`` each: every alert there is one (but ``exclude``).

    Returns:
        ``false_alarms``, ``home_days``, ``false_alarms_per_home_day`` and ``by_kind`` (counts).
    """
    quiet = set(homes)
    wrong = [a for a in alerts if a.home in quiet and a.kind not in exclude]
    home_days = len(quiet) * days
    return {
        "false_alarms": len(wrong),
        "home_days": round(home_days, 3),
        "false_alarms_per_home_day": _rounded(len(wrong) / home_days, 3) if home_days > 0 else None,
        "by_kind": dict(sorted(Counter(a.kind for a in wrong).items())),
    }


def score(
    incidents: Sequence[Incident],
    alerts: Sequence[Alert],
    *,
    quiet_homes: Sequence[str],
    days: float,
    until: datetime,
    late: timedelta = timedelta(hours=3),
    grace: timedelta = timedelta(minutes=30),
) -> dict[str, Any]:
    """Score a run: per-kind figures, false alarms on ``quiet_homes``, and what was left out.

    Incidents starting later than ``until - late`` (the end of the simulated data) are not scored: the
    rules had too little data time after them.
    """
    timely = [i for i in incidents if i.start <= until - late]
    blind = [i for i in timely if unobservable(i, incidents)]
    scored = [i for i in timely if i not in blind]
    m = match(scored, alerts, grace=grace)
    kinds = per_kind(m, alerts)
    recalls = [v["recall"] for v in kinds.values() if v["recall"] is not None]
    incident_homes = {i.home for i in incidents}
    stray = [a for a in alerts if a.home in incident_homes and a.id not in m.matched]
    return {
        "per_kind": kinds,
        "incidents": len(incidents),
        "incidents_scored": len(scored) - len(m.masked),
        "incidents_late_unscored": len(incidents) - len(timely),
        "incidents_unobservable": [
            {
                "home": i.home,
                "kind": i.kind,
                "start": i.start.isoformat(),
                "device_id": i.details.get("device_id"),
            }
            for i in blind
        ],
        "incidents_masked": len(m.masked),
        "recall_min": min(recalls) if recalls else None,
        "recall_overall": _rounded(
            sum(d is not None for d in m.delays.values()) / len(m.delays) if m.delays else None
        ),
        **false_alarms(alerts, homes=quiet_homes, days=days),
        "unmatched_alerts_on_incident_homes": dict(sorted(Counter(a.kind for a in stray).items())),
        "alerts": len(alerts),
        "missed": missed(m, alerts),
        "false_alarm_alerts": [
            {"home": a.home, "kind": a.kind, "detected_at": a.detected_at.isoformat(), "reason": a.reason}
            for a in alerts
            if a.home in set(quiet_homes)
        ],
    }
