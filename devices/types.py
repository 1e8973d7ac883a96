"""Shared domain types: device kinds, rooms and the normalised reading every part of the platform uses.

A reading's ``values`` use the metric names below whatever the wire format was (our native JSON or
zigbee2mqtt's). Fields a decoder does not know are kept under their own names, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class DeviceKind(StrEnum):
    MOTION = "motion"
    DOOR = "door"
    BED = "bed"
    CHAIR = "chair"
    SMOKE = "smoke"
    GAS = "gas"
    WATER_LEAK = "water_leak"
    TEMPERATURE = "temperature"
    WATER_METER = "water_meter"
    POWER_METER = "power_meter"
    SOS_BUTTON = "sos_button"
    FALL_DETECTOR = "fall_detector"
    GATEWAY = "gateway"


class Room(StrEnum):
    BEDROOM = "bedroom"
    BATHROOM = "bathroom"
    KITCHEN = "kitchen"
    LIVING_ROOM = "living_room"
    ENTRANCE = "entrance"
    HALLWAY = "hallway"
    OTHER = "other"


class TravelMode(StrEnum):
    WALK = "walk"
    EBIKE = "ebike"


# Normalised metric names in Reading.values (units in the name where there is one).
METRIC_TYPES: dict[str, type | tuple[type, ...]] = {
    "occupancy": bool,  # motion detected; bed/chair pressure (someone on it)
    "contact": bool,  # door: True = closed (zigbee2mqtt's convention)
    "smoke": bool,
    "gas": bool,
    "water_leak": bool,
    "tamper": bool,
    "fall": bool,  # fall detector: a fall was detected
    "action": str,  # buttons: "sos", "single", "double", "hold" ...
    "temperature": (int, float),  # degrees Celsius
    "humidity": (int, float),  # percent
    "battery": (int, float),  # percent 0..100
    "battery_low": bool,
    "water_total_l": (int, float),  # cumulative litres (meter counter)
    "energy_total_wh": (int, float),  # cumulative watt-hours (meter counter)
    "power_w": (int, float),
    "heartbeat": bool,  # a periodic "I am alive" with no event
    "linkquality": (int, float),
}

DEVICE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{2,63}$")


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading or event from one device, after decoding and validation.

    ``ts`` is timezone-aware UTC; ``seq`` is monotonic per device (for zigbee2mqtt payloads, which carry
    none, a stable hash of the payload, so a replay of the same message has the same key).
    """

    device_id: str
    ts: datetime
    seq: int
    kind: DeviceKind
    values: Mapping[str, Any] = field(default_factory=dict)
