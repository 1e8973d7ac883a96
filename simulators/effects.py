"""Turn planned incidents into concrete ones (time, device, details) and rewrite the resident's timeline."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devices.types import DeviceKind, Room
from simulators.home import Home
from simulators.incidents import IncidentKind, Planned, TruthRecord
from simulators.resident import (
    AWAY,
    COOK,
    DRESS,
    LONG_STAY,
    LYING,
    OUT,
    SLEEP,
    TEA,
    TOILET,
    WASH,
    Activity,
)

K = IncidentKind
H = 3600.0
FALL_ROOMS = {K.FALL_BATHROOM: Room.BATHROOM, K.FALL_BEDROOM: Room.BEDROOM, K.FALL_KITCHEN: Room.KITCHEN}
_LEAD_IN = {Room.BATHROOM: TOILET, Room.BEDROOM: DRESS, Room.KITCHEN: TEA}
TARGET_TEMPERATURE = {K.INDOOR_COLD: 9.0, K.INDOOR_HEAT: 36.0}
_FIXED_HOUR: dict[IncidentKind, tuple[float, float]] = {
    K.NIGHT_EXIT_NO_RETURN: (1.0, 4.0),
    K.RESIDENT_AWAY: (9.0, 11.0),
    K.INDOOR_COLD: (18.0, 22.0),
    K.INDOOR_HEAT: (11.0, 14.0),
    K.BATTERY_DEPLETED: (12.0, 21.0),
}


@dataclass(frozen=True, slots=True)
class Incident:
    """A concrete incident in one home: epoch-second window, the device it concerns, truth details."""

    home_id: str
    kind: IncidentKind
    start: float
    end: float
    device_id: str | None = None
    room: Room | None = None
    details: dict[str, Any] = field(default_factory=dict)
    lead: float = 0.0  # seconds before ``start`` with early signs (a battery running down)

    def active(self, t: float) -> bool:
        """True while the incident is going on at epoch second ``t``."""
        return self.start <= t < self.end

    def truth(self) -> TruthRecord:
        """The ground-truth record for this incident."""
        start = datetime.fromtimestamp(self.start, UTC)
        return TruthRecord(
            self.home_id, self.kind, start, datetime.fromtimestamp(self.end, UTC), self.details
        )


def _pick(rng: random.Random, acts: list[Activity], room: Room, whats: tuple[str, ...]) -> Activity | None:
    fits = [a for a in acts if a.room is room and a.what in whats and a.end - a.start >= 120]
    return rng.choice(fits) if fits else None


def _wake(acts: list[Activity], midnight: float) -> float:
    wash = next((a for a in acts if a.what == WASH), None)
    return wash.start if wash else midnight + 7 * H


def _anchor(kind: IncidentKind, acts: list[Activity], midnight: float, rng: random.Random) -> float:
    """Pick a start time on this day that suits the kind, from the resident's planned timeline."""
    if kind in FALL_ROOMS:
        room = FALL_ROOMS[kind]
        act = _pick(rng, acts, room, (TOILET, WASH, DRESS, TEA, COOK, "dishes", "meal", "bath"))
        return act.start + min(60.0, (act.end - act.start) / 2) if act else midnight + 10 * H
    if kind is K.LONG_BATHROOM_STAY:
        act = _pick(rng, acts, Room.BATHROOM, (TOILET, WASH))
        return act.start if act else midnight + 15 * H
    if kind in (K.NOT_UP_IN_MORNING, K.NO_WATER_USE):
        return _wake(acts, midnight) - (600 if kind is K.NO_WATER_USE else 0)
    if kind in (K.SMOKE, K.GAS):
        act = _pick(rng, acts, Room.KITCHEN, (COOK,))
        return act.start + rng.uniform(120, 600) if act else midnight + 12 * H
    lo, hi = _FIXED_HOUR.get(kind, (7.0, 21.0))
    return midnight + rng.uniform(lo, hi) * H


def _device_for(kind: IncidentKind, home: Home, rng: random.Random) -> str | None:
    wanted = {K.SOS: DeviceKind.SOS_BUTTON, K.SMOKE: DeviceKind.SMOKE, K.GAS: DeviceKind.GAS}
    wanted[K.WATER_LEAK] = DeviceKind.WATER_LEAK
    if kind in wanted:
        return home.require(wanted[kind]).device_id
    if kind is K.DEVICE_SILENT:
        return rng.choice([d for d in home.devices if d.kind is not DeviceKind.GATEWAY]).device_id
    if kind is K.BATTERY_DEPLETED:
        return rng.choice([d for d in home.devices if d.battery_powered]).device_id
    if kind is K.GATEWAY_OFFLINE:
        return home.gateway_id
    return None


def resolve(
    planned: Planned, *, home: Home, acts: list[Activity], midnight: float, sim_end: float
) -> Incident:
    """Make a planned incident concrete on its day, given that day's planned timeline.

    Args:
        planned: from the incident plan.
        home: the home it happens in.
        acts: the resident's planned timeline for the day of ``planned``.
        midnight: epoch seconds of that day's local midnight.
        sim_end: epoch seconds of the end of the simulation (incidents are cut there).

    Returns:
        The incident with its window, device and ground-truth details.
    """
    rng = random.Random(f"{home.home_id}|{planned.kind}|{planned.day}|{planned.start}|{planned.duration}")
    start = planned.start if planned.start is not None else _anchor(planned.kind, acts, midnight, rng)
    end = min(start + planned.duration, sim_end)
    device_id = _device_for(planned.kind, home, rng)
    room = FALL_ROOMS.get(planned.kind)
    details: dict[str, Any] = {"source": planned.source}
    if device_id:
        details["device_id"] = device_id
    if room is not None:
        detector = home.find(DeviceKind.FALL_DETECTOR, room)
        details.update(room=room.value, fall_detector=detector is not None)
    if planned.kind is K.NOT_UP_IN_MORNING:
        details["usual_wake"] = datetime.fromtimestamp(_wake(acts, midnight), UTC).isoformat()
    if planned.kind is K.GATEWAY_OFFLINE:
        details["devices"] = len(home.gateway_devices())
    if planned.kind in TARGET_TEMPERATURE:
        details["target_temperature"] = TARGET_TEMPERATURE[planned.kind]
    if planned.kind is K.RESIDENT_AWAY:
        details["reason"] = rng.choice(("travel", "hospital", "family"))
    lead = max(start - midnight, 0.0) if planned.kind is K.BATTERY_DEPLETED else 0.0
    if lead:
        details["low_from"] = datetime.fromtimestamp(start - lead, UTC).isoformat()
    return Incident(home.home_id, planned.kind, start, end, device_id, room, details, lead)


def _segments(inc: Incident, acts: list[Activity]) -> list[Activity]:
    """The activities that replace the routine while a behavioural incident lasts."""
    if inc.room is not None:  # a fall: be in the room, then lie still
        lead = [a for a in acts if a.start < inc.start <= a.end and a.room is inc.room]
        walk = [] if lead else [Activity(inc.room, inc.start - 90, inc.start, _LEAD_IN[inc.room])]
        return [*walk, Activity(inc.room, inc.start, inc.end, LYING)]
    if inc.kind is K.NOT_UP_IN_MORNING:
        asleep = [a.start for a in acts if a.what == SLEEP and a.start <= inc.start]
        return [Activity(Room.BEDROOM, min([inc.start, *asleep[-1:]]), inc.end, SLEEP)]
    if inc.kind is K.LONG_BATHROOM_STAY:
        return [Activity(Room.BATHROOM, inc.start, inc.end, LONG_STAY)]
    if inc.kind is K.NIGHT_EXIT_NO_RETURN:
        return [Activity(None, inc.start, inc.end, OUT)]
    return [Activity(None, inc.start, inc.end, AWAY)]


def apply_overrides(
    acts: list[Activity], incidents: list[Incident], *, start: float, end: float
) -> list[Activity]:
    """Replace the routine in [start, end) wherever a behavioural incident holds the resident.

    Args:
        acts: the day's planned activities (gap-free, in order).
        incidents: concrete incidents; only behavioural ones (falls, not up, night exit, long bathroom
            stay, away) change the timeline.
        start: epoch seconds of the day's start.
        end: epoch seconds of the day's end.

    Returns:
        The new gap-free timeline for [start, end), in time order.
    """
    segments: list[Activity] = []
    for inc in incidents:
        if inc.room is not None or inc.kind in _TIMELINE_KINDS:
            segments.extend(_segments(inc, acts))
    segments = [c for c in (s.clipped(start, end) for s in segments) if c is not None]
    if not segments:
        return acts
    out: list[Activity] = list(segments)
    for act in acts:
        pieces = [act]
        for seg in segments:
            pieces = [p for q in pieces for p in _subtract(q, seg.start, seg.end)]
        out.extend(pieces)
    out.sort(key=lambda a: a.start)
    return out


_TIMELINE_KINDS = frozenset(
    {K.NOT_UP_IN_MORNING, K.LONG_BATHROOM_STAY, K.NIGHT_EXIT_NO_RETURN, K.RESIDENT_AWAY}
)


def _subtract(act: Activity, lo: float, hi: float) -> list[Activity]:
    if hi <= act.start or lo >= act.end:
        return [act]
    left = Activity(act.room, act.start, lo, act.what) if lo > act.start else None
    right = Activity(act.room, hi, act.end, act.what) if hi < act.end else None
    return [p for p in (left, right) if p is not None]
