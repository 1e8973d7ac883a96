"""Map CASAS sensors to rooms and device kinds and turn a parsed log into one home's readings.

Sensor names are read by their words (CamelCase): a room word (Bedroom, Bathroom, Kitchen, Dining,
LivingRoom, Entry/Entryway, Hallway, Office...) and a kind word (Bed, Chair, Door, Entryway, Area, Toilet,
Sink, Stove, Refrigerator, Temperature...). Numbered ids use their prefix: M/MA = motion, D = door,
T = temperature, with the room from the log's location column when there is one. Light (L), item (I),
battery (BATV) and other sensors are not mapped. A sink sensor is a PIR over the sink: motion.

A mapping file overrides the inference, per exact sensor name:

* JSON: ``{"KitchenASink": {"room": "kitchen", "kind": "water_meter"}, "OfficeAArea": null}``
  (``null`` = ignore that sensor);
* CSV with a header ``sensor,room,kind``; ``kind`` ``ignore`` (or empty) ignores the sensor.

Rooms and kinds are the values of devices.types.Room and DeviceKind. A sensor mapped to ``water_meter``
turns each ON..OFF span into litres at ``flow_l_per_min`` on a cumulative counter.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devices.types import DEVICE_ID_RE, DeviceKind, Reading, Room
from simulators.casas import CasasLog
from simulators.errors import ReplayError
from simulators.home import HOME_ID_RE, Device, Home


@dataclass(frozen=True, slots=True)
class SensorMap:
    """Where a CASAS sensor is and what kind of device it stands for."""

    room: Room
    kind: DeviceKind


_WORD_RE = re.compile(r"[A-Z][a-z]+|[A-Z]+(?![a-z])|[a-z]+|\d+")
ROOM_WORDS = {
    "bedroom": Room.BEDROOM,
    "bathroom": Room.BATHROOM,
    "toilet": Room.BATHROOM,
    "kitchen": Room.KITCHEN,
    "dining": Room.KITCHEN,
    "living": Room.LIVING_ROOM,
    "livingroom": Room.LIVING_ROOM,
    "lounge": Room.LIVING_ROOM,
    "entry": Room.ENTRANCE,
    "entryway": Room.ENTRANCE,
    "entrance": Room.ENTRANCE,
    "hallway": Room.HALLWAY,
    "hall": Room.HALLWAY,
    "office": Room.OTHER,
    "study": Room.OTHER,
    "workarea": Room.OTHER,
}
KIND_WORDS = {
    "bed": DeviceKind.BED,
    "chair": DeviceKind.CHAIR,
    "sofa": DeviceKind.CHAIR,
    "couch": DeviceKind.CHAIR,
    "door": DeviceKind.DOOR,
    "entryway": DeviceKind.DOOR,
    "refrigerator": DeviceKind.DOOR,
    "fridge": DeviceKind.DOOR,
    "temperature": DeviceKind.TEMPERATURE,
    "temp": DeviceKind.TEMPERATURE,
    "area": DeviceKind.MOTION,
    "toilet": DeviceKind.MOTION,
    "sink": DeviceKind.MOTION,
    "stove": DeviceKind.MOTION,
    "shower": DeviceKind.MOTION,
    "motion": DeviceKind.MOTION,
}
ID_PREFIX = {
    "M": DeviceKind.MOTION,
    "MA": DeviceKind.MOTION,
    "D": DeviceKind.DOOR,
    "T": DeviceKind.TEMPERATURE,
}
_NUMBERED_RE = re.compile(r"^([A-Za-z]{1,4})(\d{1,4})[A-Za-z]?$")


def _room_of(words: list[str]) -> Room | None:
    for i, word in enumerate(words):
        pair = word + words[i + 1] if i + 1 < len(words) else ""
        if pair in ROOM_WORDS:
            return ROOM_WORDS[pair]
        if word in ROOM_WORDS:
            return ROOM_WORDS[word]
    return None


def infer_sensor(name: str, location: str | None = None) -> SensorMap | None:
    """Infer (room, kind) from a CASAS sensor name and optional location; None when not mappable."""
    numbered = _NUMBERED_RE.match(name)
    if numbered:
        kind = ID_PREFIX.get(numbered.group(1).upper())
        located = _room_of([w.lower() for w in _WORD_RE.findall(location or "")]) or Room.OTHER
        return SensorMap(located, kind) if kind else None
    words = [w.lower() for w in _WORD_RE.findall(name)]
    room = _room_of(words)
    kind = next((KIND_WORDS[w] for w in reversed(words) if w in KIND_WORDS), None)
    if kind is None and room is not None:
        kind = DeviceKind.MOTION  # "HallwayA": a room name alone is an area motion sensor
    if kind is None:
        return None
    if room is None:
        room = Room.ENTRANCE if kind is DeviceKind.DOOR and "main" in words else Room.OTHER
    return SensorMap(room, kind)


def _entry(sensor: str, room: str | None, kind: str | None, where: str) -> tuple[str, SensorMap | None]:
    if not kind or kind == "ignore":
        return sensor, None
    try:
        return sensor, SensorMap(Room(room or "other"), DeviceKind(kind))
    except ValueError:
        raise ReplayError(f"{where}: unknown room {room!r} or kind {kind!r} for sensor {sensor!r}") from None


def load_mapping(path: str | Path) -> dict[str, SensorMap | None]:
    """Load a mapping file (``.json`` or ``.csv``, see the module docstring); raise ReplayError if bad."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReplayError(f"cannot read mapping file {path}: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReplayError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ReplayError(f"{path}: want an object of sensor name -> {{room, kind}} or null")
        return dict(
            _entry(k, (v or {}).get("room"), (v or {}).get("kind"), str(path)) for k, v in data.items()
        )
    rows = list(csv.DictReader(text.splitlines()))
    if rows and not {"sensor", "kind"} <= set(rows[0]):
        raise ReplayError(f"{path}: CSV header must be sensor,room,kind")
    return dict(
        _entry(r["sensor"].strip(), (r.get("room") or "").strip(), (r["kind"] or "").strip(), f"{path}:{n}")
        for n, r in enumerate(rows, start=2)
    )


@dataclass(slots=True)
class Replay:
    """One home built from a log: its devices, the readings in time order, and what was left out."""

    home: Home
    readings: list[Reading] = field(default_factory=list)
    unmapped: Counter[str] = field(default_factory=Counter)  # sensor name -> events not replayed
    unfit: list[str] = field(default_factory=list)  # events whose state does not fit the device kind
    lines: list[int] = field(default_factory=list)  # the log line of each reading (same order)


def _slug(home_id: str, sensor: str) -> str:
    device_id = f"{home_id}-" + re.sub(r"[^a-z0-9_]+", "_", sensor.lower()).strip("_")
    if not DEVICE_ID_RE.match(device_id):
        raise ReplayError(f"sensor {sensor!r} gives an invalid device id {device_id!r}")
    return device_id


def _values(kind: DeviceKind, state: str, meter: dict[str, Any], ts: datetime, flow: float) -> dict[str, Any]:
    on = state in ("ON", "OPEN", "PRESENT")
    number = None if state in ("ON", "OFF", "OPEN", "CLOSE", "CLOSED", "PRESENT", "ABSENT") else float(state)
    if kind is DeviceKind.TEMPERATURE and number is not None:
        return {"temperature": number}
    if number is not None:
        raise ValueError(f"numeric state {state} for a {kind} sensor")
    if kind is DeviceKind.DOOR:
        return {"contact": not on}
    if kind is DeviceKind.WATER_METER:
        if on:
            meter["since"] = ts
            return {}
        since = meter.pop("since", ts)
        meter["total"] = round(meter.get("total", 0.0) + (ts - since).total_seconds() / 60 * flow, 2)
        return {"water_total_l": meter["total"]}
    if kind in (DeviceKind.SMOKE, DeviceKind.GAS, DeviceKind.WATER_LEAK):
        return {kind.value: on}
    if kind is DeviceKind.SOS_BUTTON:
        return {"action": "sos"} if on else {}
    if kind is DeviceKind.TEMPERATURE:
        raise ValueError(f"state {state} for a temperature sensor")
    return {"occupancy": on}


def replay(
    log: CasasLog,
    *,
    home_id: str,
    start: datetime | None = None,
    mapping: Mapping[str, SensorMap | None] | None = None,
    flow_l_per_min: float = 4.0,
) -> Replay:
    """Turn a parsed CASAS log into readings of one home, optionally time-shifted.

    Args:
        log: from :func:`simulators.casas.parse_casas`.
        home_id: the home; device ids are ``{home_id}-{sensor name in lower case}``.
        start: aware time the first event is moved to (all events keep their spacing); None keeps times.
        mapping: overrides of the inferred (room, kind) per sensor name (None value = ignore the sensor).
        flow_l_per_min: litres per minute for sensors mapped to ``water_meter``.

    Returns:
        The home (all devices native) and its readings, numbered per device, in time order.
    """
    if not HOME_ID_RE.match(home_id):
        raise ReplayError(f"home id {home_id!r} must match {HOME_ID_RE.pattern}")
    if start is not None and start.tzinfo is None:
        raise ReplayError("replay start must be timezone-aware")
    shift = start - log.events[0].ts if start is not None and log.events else None
    overrides = mapping or {}
    devices: dict[str, Device] = {}
    meters: dict[str, dict[str, Any]] = {}
    seq: Counter[str] = Counter()
    out = Replay(Home(home_id, ()))
    for event in log.events:
        where = (
            overrides[event.sensor]
            if event.sensor in overrides
            else infer_sensor(event.sensor, event.location)
        )
        if where is None:
            out.unmapped[event.sensor] += 1
            continue
        device = devices.get(event.sensor) or Device(_slug(home_id, event.sensor), where.kind, where.room)
        devices[event.sensor] = device
        ts = event.ts + shift if shift is not None else event.ts
        try:
            values = _values(where.kind, event.state, meters.setdefault(event.sensor, {}), ts, flow_l_per_min)
        except ValueError as exc:
            out.unfit.append(f"line {event.line_no}: {exc}")
            continue
        if values:
            seq[device.device_id] += 1
            out.readings.append(Reading(device.device_id, ts, seq[device.device_id], where.kind, values))
            out.lines.append(event.line_no)
    out.home = Home(home_id, tuple(devices.values()))
    return out


INGEST_MAX_AGE = timedelta(days=7) - timedelta(minutes=10)  # ingest refuses readings 7 days old; a margin


def day_shift(first: datetime, last: datetime, *, now: datetime, max_age: timedelta) -> timedelta:
    """Whole days to move a log by so that it ends as late as it can but no later than ``now``.

    Each event keeps its local time of day in its own zone (a night stays a night for time-of-day rules):
    add the result to the log's aware timestamps, which moves them on the wall clock. The moved log's first
    event is less than ``max_age`` old (the platform's ingest takes it). A log longer than ``max_age`` less
    a day cannot lie wholly in the past: its first ``max_age - 1 day`` end by ``now`` and the rest runs in
    real time once the replay has caught up with the clock (``eval replay`` plays just that first part).

    Args:
        first: the log's first event, aware (in the zone the log's local times are read in).
        last: its last event, aware, not before ``first``.
        now: the wall clock, aware.
        max_age: how old a replayed event may be at most (more than one day).

    Returns:
        ``timedelta(days=k)``: the largest whole ``k`` with ``min(last, first + max_age - 1 day) + k days``
        no later than ``now``.
    """
    if first.tzinfo is None or last.tzinfo is None or now.tzinfo is None:
        raise ReplayError("replay times must be timezone-aware")
    day = timedelta(days=1)
    if max_age <= day:
        raise ReplayError(f"max_age must be more than a day, got {max_age}")
    end = min(last, first + (max_age - day))
    days = (now - end) // day  # in absolute time; a DST change moves the wall clock by an hour
    while end + timedelta(days=days + 1) <= now:
        days += 1
    while end + timedelta(days=days) > now:
        days -= 1
    return timedelta(days=days)


def stream(result: Replay) -> list[tuple[float, Reading]]:
    """The readings as (epoch seconds, reading) pairs for :func:`simulators.clock.schedule`."""
    return [(r.ts.timestamp(), r) for r in result.readings]
