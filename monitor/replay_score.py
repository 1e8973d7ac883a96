"""Scoring of a real-log evaluation with injected collapses (pure: no I/O, no clock).

An alert is judged at each *detection*: when it was raised, reopened or returned (a condition back on an
alert not yet resolved), at the data time the rules saw it. A detection is explained by an injected
incident when it falls on that home within ``[start - 1 min, end + grace]``; a device-health alert is a
device's fault, not the resident's; every other detection is a false alarm.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.evaluation import HEALTH, percentile
from monitor.rules.kinds import AlertKind

A = AlertKind
# What a duty officer would take as the alarm for a resident down on the floor.
COLLAPSE_KINDS = frozenset({A.INACTIVITY.value, A.FALL.value, A.LONG_BATHROOM.value, A.NOT_UP.value})
FOUND_WITHIN = timedelta(hours=4)
GRACE = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Injected:
    """One injected incident on one home (times aware, as replayed)."""

    id: str
    home: str
    kind: str
    room: str | None
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Detection:
    """An alert raised, reopened or returned at ``at`` (data time)."""

    alert_id: int
    home: str
    kind: str
    at: datetime
    action: str
    reason: str = ""


def explained_by(d: Detection, incidents: Sequence[Injected], *, grace: timedelta = GRACE) -> Injected | None:
    """The injected incident that explains the detection (same home, within its window), if any."""
    return next(
        (
            i
            for i in incidents
            if i.home == d.home and i.start - timedelta(minutes=1) <= d.at <= i.end + grace
        ),
        None,
    )


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def score_replay(
    incidents: Sequence[Injected], detections: Sequence[Detection], *, home_days: float
) -> dict[str, Any]:
    """Time to detect and found share per incident and room; false alarms per home-day; each detection.

    Args:
        incidents: the injected incidents (ground truth).
        detections: every detection on the evaluated homes, any order.
        home_days: the evaluated (live, after learning) days summed over homes.
    """
    ordered = sorted(detections, key=lambda d: d.at)
    per_incident: list[dict[str, Any]] = []
    delays_by_room: dict[str, list[float | None]] = defaultdict(list)
    for inc in sorted(incidents, key=lambda i: i.start):
        hit = next(
            (d for d in ordered if d.home == inc.home and d.kind in COLLAPSE_KINDS
             and inc.start - timedelta(minutes=1) <= d.at <= inc.start + FOUND_WITHIN),
            None,
        )  # fmt: skip
        delay = max((hit.at - inc.start).total_seconds(), 0.0) / 60 if hit is not None else None
        delays_by_room[inc.room or "unknown"].append(delay)
        per_incident.append({
            "id": inc.id, "home": inc.home, "kind": inc.kind, "room": inc.room, "start": inc.start.isoformat(),
            "found": delay is not None, "time_to_detect_min": _r(delay),
            "alert": None if hit is None else {"id": hit.alert_id, "kind": hit.kind, "reason_en": hit.reason},
        })  # fmt: skip
    listed: list[dict[str, Any]] = []
    false = device = 0
    for d in ordered:
        why = explained_by(d, incidents)
        verdict = why.id if why is not None else "device_fault" if d.kind in HEALTH else "false_alarm"
        false += verdict == "false_alarm"
        device += verdict == "device_fault"
        listed.append({"alert_id": d.alert_id, "home": d.home, "kind": d.kind, "action": d.action,
                       "at": d.at.isoformat(), "reason_en": d.reason, "verdict": verdict})  # fmt: skip
    found = [x for ds in delays_by_room.values() for x in ds if x is not None]
    total = sum(len(ds) for ds in delays_by_room.values())
    rooms = {
        room: {
            "incidents": len(ds), "found": sum(x is not None for x in ds),
            "time_to_detect_min_p50": _r(percentile([x for x in ds if x is not None], 50)),
            "time_to_detect_min_p90": _r(percentile([x for x in ds if x is not None], 90)),
            "time_to_detect_min_max": _r(max((x for x in ds if x is not None), default=None)),
        }
        for room, ds in sorted(delays_by_room.items())
    }  # fmt: skip
    return {
        "incidents": total,
        "found_share": _r(len(found) / total, 3) if total else None,
        "time_to_detect_min_p50": _r(percentile(found, 50)),
        "time_to_detect_min_p90": _r(percentile(found, 90)),
        "false_alarms": false,
        "home_days": round(home_days, 3),
        "false_alarms_per_home_day": _r(false / home_days, 3) if home_days > 0 else None,
        "device_fault_alerts": device,
        "per_room": rooms,
        "per_incident": per_incident,
        "alerts": listed,
    }
