"""What the engine hands to the I/O layer: alert candidates (raise or clear), and the findings behind them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.rules.kinds import DEFAULT_SEVERITY, AlertKind, Severity

ROOM_ZH = {
    "bedroom": "卧室",
    "bed": "床上",
    "bathroom": "卫生间",
    "kitchen": "厨房",
    "living_room": "客厅",
    "chair": "座椅上",
    "entrance": "门厅",
    "hallway": "走廊",
    "other": "其他房间",
}


def room_zh(room: str | None) -> str:
    return ROOM_ZH.get(room or "other", room or "其他房间")


def room_en(room: str | None) -> str:
    return {"bed": "bed", "chair": "chair"}.get(room or "", (room or "other").replace("_", " "))


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's verdict that a condition holds now (or that an event happened)."""

    kind: AlertKind
    started_at: datetime
    reason_zh: str
    reason_en: str
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None

    @property
    def level(self) -> Severity:
        return self.severity or DEFAULT_SEVERITY[self.kind]


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    """An alert to raise (or, with ``clear``, a condition that has ended) for one home and kind.

    ``started_at`` is when the condition began (e.g. the last sign of activity); ``detected_at`` is the
    engine's ``now``. ``notify_after`` is set for low/medium routine or health alerts raised in quiet
    hours: persist at once, notify people after it.
    """

    home_id: str | int
    resident_id: str | int | None
    kind: AlertKind
    severity: Severity
    started_at: datetime
    detected_at: datetime
    evidence: dict[str, Any]
    reason_zh: str
    reason_en: str
    clear: bool = False
    notify_after: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 strings)."""
        return {
            "home_id": self.home_id,
            "resident_id": self.resident_id,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "started_at": self.started_at.isoformat(),
            "detected_at": self.detected_at.isoformat(),
            "evidence": self.evidence,
            "reason_zh": self.reason_zh,
            "reason_en": self.reason_en,
            "clear": self.clear,
            "notify_after": self.notify_after.isoformat() if self.notify_after else None,
        }


def iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None
