"""Incidents injected into a real sensor log, and the ambient reports real devices send (pure: no I/O).

A real log has the resident's life but no incident and no heartbeat. ``eldercare eval replay`` adds both:

* ``collapse@WHEN[:ROOM]``: the resident goes down at WHEN in ROOM and lies there for ``COLLAPSE_HOURS``;
  a bed or chair they were on reports itself vacated just before (they got up), one last movement is seen
  in ROOM at WHEN, then the log's activity stops (every reading of the log's presence sensors is
  dropped) while the ambient devices keep reporting; afterwards the log goes on as it was.
* ``away@FROM/UNTIL``: the resident is marked away (the rules' away periods), nothing is changed in the log.
* ``random:N``: N collapses at random daytime moments (``DAY_FROM``..``DAY_UNTIL`` local) after the
  learning days, cycling over the rooms that have a motion sensor, only when the log shows the resident
  at home and moving shortly before (``AT_HOME_WITHIN``). Collapses on one copy of the log are
  ``SPACING`` apart; more than fit are put on further copies (the same log replayed as another home).

Times written without an offset are the log's local time, before any shift.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from devices.types import DeviceKind, Reading, Room
from simulators.errors import IncidentSpecError
from simulators.home import Device, Home

COLLAPSE_HOURS = 4.0
SPACING = timedelta(hours=6)  # start to start on one copy: four hours down, two to get back to normal
DAY_FROM, DAY_UNTIL = 8, 20  # random collapses start between these local hours
AT_HOME_WITHIN = timedelta(minutes=30)  # the log shows activity inside (not the entrance) this recently
SYNTHETIC_SEQ = 2**40  # sequence numbers of added readings start here (never those of the log's own)
HEARTBEAT_KINDS = ("temperature", "battery")
_PRESENCE = frozenset({DeviceKind.MOTION, DeviceKind.DOOR, DeviceKind.BED, DeviceKind.CHAIR})


@dataclass(frozen=True, slots=True)
class Collapse:
    """The resident down from ``start`` (aware) in ``room`` (None: the room they were last seen in)."""

    start: datetime
    room: Room | None = None
    hours: float = COLLAPSE_HOURS

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)


@dataclass
class InjectSpec:
    """What ``--inject`` asked for."""

    collapses: list[Collapse] = field(default_factory=list)
    away: list[tuple[datetime, datetime]] = field(default_factory=list)
    random: int = 0


def _time(text: str, tz: ZoneInfo, what: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise IncidentSpecError(f"{what}: {text[:40]!r} is not an ISO 8601 time") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=tz)


def parse_inject(items: Sequence[str], *, tz: ZoneInfo) -> InjectSpec:
    """Parse ``--inject`` values (see the module docstring).

    Raises:
        IncidentSpecError: the value, and what is wrong with it.
    """
    spec = InjectSpec()
    for raw in items:
        text = raw.strip()
        kind, sep, rest = text.partition("@") if "@" in text else text.partition(":")
        if kind == "random" and sep == ":":
            if not rest.isdigit() or not 0 < int(rest) <= 1000:
                raise IncidentSpecError(f"{text!r}: want random:N with N from 1 to 1000")
            spec.random += int(rest)
        elif kind == "collapse" and sep == "@":
            head, _, tail = rest.rpartition(":")
            rooms = {r.value for r in Room}
            when, room = (head, tail) if tail in rooms else (rest, "")
            if tail.isalpha() and tail not in rooms:
                raise IncidentSpecError(f"{text!r}: unknown room {tail!r} ({', '.join(sorted(rooms))})")
            where = Room(room) if room else None
            spec.collapses.append(Collapse(_time(when, tz, text), where))
        elif kind == "away" and sep == "@":
            parts = rest.split("/")
            if len(parts) != 2:
                raise IncidentSpecError(f"{text!r}: want away@FROM/UNTIL")
            a, b = (_time(p, tz, text) for p in parts)
            if b <= a:
                raise IncidentSpecError(f"{text!r}: UNTIL must be after FROM")
            spec.away.append((a, b))
        else:
            raise IncidentSpecError(f"{text!r}: want collapse@WHEN[:ROOM], away@FROM/UNTIL or random:N")
    return spec


def parse_heartbeat(text: str) -> tuple[str, float]:
    """``KIND:MINUTES`` (kind temperature or battery; 1 to 240 minutes)."""
    kind, _, minutes = text.partition(":")
    try:
        every = float(minutes)
    except ValueError:
        raise IncidentSpecError(f"{text!r}: want KIND:MINUTES, e.g. temperature:10") from None
    if kind not in HEARTBEAT_KINDS or not 1 <= every <= 240:
        raise IncidentSpecError(f"{text!r}: KIND is one of {', '.join(HEARTBEAT_KINDS)}, MINUTES 1 to 240")
    return kind, every


def activity(readings: Sequence[Reading], home: Home) -> list[tuple[datetime, Room]]:
    """The moments the log shows the resident (presence sensors reporting something), with the room."""
    out = []
    for r in readings:
        dev = home.by_id.get(r.device_id)
        if dev is not None and dev.kind in _PRESENCE and any(v is True for v in r.values.values()):
            out.append((r.ts, dev.room))
    return out


def collapse_rooms(home: Home) -> list[Room]:
    """Rooms a collapse can be placed in: those with a motion sensor (not the entrance), sorted."""
    return sorted(
        {d.room for d in home.devices if d.kind is DeviceKind.MOTION and d.room is not Room.ENTRANCE}
    )


def _at_home(seen: Sequence[tuple[datetime, Room]], t: datetime) -> bool:
    """The last sign of the resident before ``t`` was inside and recent."""
    lo, hi = 0, len(seen)
    while lo < hi:
        mid = (lo + hi) // 2
        if seen[mid][0] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo > 0 and t - seen[lo - 1][0] <= AT_HOME_WITHIN and seen[lo - 1][1] is not Room.ENTRANCE


def draw_collapses(
    seen: Sequence[tuple[datetime, Room]],
    *,
    rooms: Sequence[Room],
    after: datetime,
    until: datetime,
    n: int,
    seed: int,
    tz: ZoneInfo,
    fixed: Sequence[Collapse] = (),
) -> list[list[Collapse]]:
    """N daytime collapses in [after, until - COLLAPSE_HOURS], spread over copies of the log.

    Args:
        seen: ``activity`` of the log, in time order.
        rooms: the rooms to cycle over.
        after, until: the span collapses may lie in (aware).
        n: how many.
        seed: the draw's seed (same seed, same collapses).
        tz: the log's zone (daytime is local).
        fixed: collapses asked for explicitly; they go on the first copy.

    Returns:
        Per copy of the log, its collapses in time order (the first copy also holds ``fixed``).

    Raises:
        IncidentSpecError: no daytime moment with the resident at home in the span, or no room.
    """
    copies: list[list[Collapse]] = [sorted(fixed, key=lambda c: c.start)]
    if n == 0:
        return copies
    if not rooms:
        raise IncidentSpecError("random collapses need a room with a motion sensor")
    latest = until - timedelta(hours=COLLAPSE_HOURS)
    rng = random.Random(seed)
    span = (latest - after).total_seconds()
    for i in range(n):
        for _ in range(2000):
            t = after + timedelta(seconds=int(rng.random() * max(span, 0)))
            if DAY_FROM <= t.astimezone(tz).hour < DAY_UNTIL and _at_home(seen, t):
                break
        else:
            raise IncidentSpecError(
                f"no daytime moment ({DAY_FROM}:00-{DAY_UNTIL}:00) with the resident at home between "
                f"{after.isoformat()} and {latest.isoformat()}"
            )
        c = Collapse(t, rooms[i % len(rooms)])
        home = next((cs for cs in copies if all(abs(o.start - t) >= SPACING for o in cs)), None)
        if home is None:
            copies.append([c])
        else:
            home.append(c)
            home.sort(key=lambda x: x.start)
    return [cs for cs in copies if cs] or [[]]


def _room_sensor(home: Home, room: Room) -> Device | None:
    """The motion sensor of ``room`` (the first by id), or None."""
    return min((d for d in home.devices if d.kind is DeviceKind.MOTION and d.room is room),
               key=lambda d: d.device_id, default=None)  # fmt: skip


def inject(readings: Sequence[Reading], home: Home, collapses: Sequence[Collapse]) -> list[Reading]:
    """The log's readings with each collapse applied (see the module docstring), in time order.

    A collapse without a room happens where the resident was last seen. Devices not in ``home`` (the
    ambient heartbeats) are never dropped.
    """
    out: list[Reading] = []
    seq = SYNTHETIC_SEQ
    drop = [(c.start, c.end) for c in collapses]
    for r in readings:
        dev = home.by_id.get(r.device_id)
        if dev is not None and dev.kind in _PRESENCE and any(s < r.ts < e for s, e in drop):
            continue
        out.append(r)
    seen = activity(readings, home)
    for c in collapses:
        room = c.room or next((rm for t, rm in reversed(seen) if t <= c.start), None)
        sensor = _room_sensor(home, room) if room is not None else None
        if sensor is not None:
            seq += 1
            out.append(Reading(sensor.device_id, c.start, seq, DeviceKind.MOTION, {"occupancy": True}))
            seq += 1
            out.append(Reading(sensor.device_id, c.start + timedelta(seconds=30), seq, DeviceKind.MOTION,
                               {"occupancy": False}))  # fmt: skip
        for d in home.devices:  # up from a bed or chair they were on, then down on the floor
            last = next(
                (r for r in reversed(readings) if r.device_id == d.device_id and r.ts <= c.start), None
            )
            if (
                d.kind in (DeviceKind.BED, DeviceKind.CHAIR)
                and last is not None
                and last.values.get("occupancy")
            ):
                seq += 1
                out.append(
                    Reading(d.device_id, c.start - timedelta(seconds=2), seq, d.kind, {"occupancy": False})
                )
    out.sort(key=lambda r: r.ts)
    return out


def heartbeats(
    home: Home, kind: str, every_min: float, *, start: datetime, end: datetime
) -> tuple[list[Device], list[Reading]]:
    """Ambient reports from ``start`` to ``end``: a room thermometer's temperature (one added device), or
    every presence sensor's battery level, each ``every_min`` minutes (staggered by device).

    Returns:
        The devices to add to the home (none for battery) and the readings, in time order.
    """
    step = timedelta(minutes=every_min)
    if kind == "temperature":
        dev = Device(f"{home.home_id}-hb-temperature"[:64], DeviceKind.TEMPERATURE, Room.LIVING_ROOM)
        targets, added = [dev], [dev]
    else:
        targets, added = [d for d in home.devices if d.kind in _PRESENCE], []
    out: list[Reading] = []
    for i, dev in enumerate(sorted(targets, key=lambda d: d.device_id)):
        t, n = start + step * (i / max(len(targets), 1)), 0
        while t < end:
            n += 1
            values = {"temperature": 24.0} if kind == "temperature" else {"battery": 90}
            out.append(Reading(dev.device_id, t, SYNTHETIC_SEQ // 2 + n, dev.kind, values))
            t += step
    out.sort(key=lambda r: r.ts)
    return added, out
