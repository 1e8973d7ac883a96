"""A simulated home: rooms, devices, and how each device reaches the broker (natively or via a gateway)."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from devices.types import DEVICE_ID_RE, DeviceKind, Room
from simulators.errors import SimulatorError

HOME_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{2,40}$")
ROOMS: tuple[Room, ...] = (Room.BEDROOM, Room.BATHROOM, Room.KITCHEN, Room.LIVING_ROOM, Room.ENTRANCE)

# Devices that run on batteries (they send heartbeats and report a battery level).
BATTERY_KINDS = frozenset(
    {
        DeviceKind.MOTION,
        DeviceKind.DOOR,
        DeviceKind.BED,
        DeviceKind.CHAIR,
        DeviceKind.SMOKE,
        DeviceKind.WATER_LEAK,
        DeviceKind.TEMPERATURE,
        DeviceKind.SOS_BUTTON,
    }
)
# Devices that exist as zigbee products and may therefore sit behind a zigbee2mqtt gateway.
ZIGBEE_KINDS = BATTERY_KINDS | {DeviceKind.GAS}


class Transport(StrEnum):
    """How a device's messages reach the broker."""

    NATIVE = "native"  # eldercare/v1/devices/{device_id}/event, our JSON
    Z2M = "z2m"  # eldercare/v1/gateways/{gateway_id}/z2m/{friendly_name}, zigbee2mqtt JSON


class Profile(StrEnum):
    """Which devices of a home go through its zigbee2mqtt gateway."""

    NATIVE = "native"  # everything native, no gateway
    ZIGBEE = "zigbee"  # every zigbee-capable device behind the gateway
    MIXED = "mixed"  # about half of them behind the gateway


@dataclass(frozen=True, slots=True)
class Device:
    """One installed device; ``gateway_id``/``friendly_name`` are set only for zigbee2mqtt devices."""

    device_id: str
    kind: DeviceKind
    room: Room
    transport: Transport = Transport.NATIVE
    gateway_id: str | None = None
    friendly_name: str | None = None

    @property
    def battery_powered(self) -> bool:
        """True when the device runs on a battery (heartbeats carry a battery level)."""
        return self.kind in BATTERY_KINDS

    @property
    def topic(self) -> str:
        """The MQTT topic this device's readings are published on."""
        if self.transport is Transport.Z2M:
            return f"eldercare/v1/gateways/{self.gateway_id}/z2m/{self.friendly_name}"
        return f"eldercare/v1/devices/{self.device_id}/event"


@dataclass(frozen=True, slots=True)
class Home:
    """A simulated home and its devices; ``gateway_id`` is None when nothing goes through a gateway."""

    home_id: str
    devices: tuple[Device, ...]
    gateway_id: str | None = None
    by_id: dict[str, Device] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Index devices by id."""
        self.by_id.update({d.device_id: d for d in self.devices})

    def find(self, kind: DeviceKind, room: Room | None = None) -> Device | None:
        """Return the first device of ``kind`` (in ``room`` if given), or None."""
        for device in self.devices:
            if device.kind is kind and (room is None or device.room is room):
                return device
        return None

    def require(self, kind: DeviceKind, room: Room | None = None) -> Device:
        """Like :meth:`find` but raise SimulatorError when the home has no such device."""
        device = self.find(kind, room)
        if device is None:
            raise SimulatorError(
                f"home {self.home_id} has no {kind} device" + (f" in {room}" if room else "")
            )
        return device

    def gateway_devices(self) -> tuple[Device, ...]:
        """Devices that reach the broker through the home gateway."""
        return tuple(d for d in self.devices if d.transport is Transport.Z2M)


def home_id_for(index: int, *, prefix: str = "h") -> str:
    """Return the home id for a 0-based home index, e.g. ``h00001`` for index 0."""
    return f"{prefix}{index + 1:05d}"


def device_id_for(home_id: str, room: Room, kind: DeviceKind) -> str:
    """Return the id of the device of ``kind`` in ``room`` of ``home_id``."""
    device_id = f"{home_id}-{room.value}-{kind.value}"
    if not DEVICE_ID_RE.match(device_id):
        raise SimulatorError(f"derived device id {device_id!r} is not a valid device id")
    return device_id


def layout(fall_detector_rooms: Sequence[Room] = ()) -> list[tuple[Room, DeviceKind]]:
    """Return the (room, kind) pairs installed in every simulated home."""
    pairs = [(room, DeviceKind.MOTION) for room in ROOMS]
    pairs += [
        (Room.ENTRANCE, DeviceKind.DOOR),
        (Room.BEDROOM, DeviceKind.BED),
        (Room.LIVING_ROOM, DeviceKind.CHAIR),
        (Room.KITCHEN, DeviceKind.SMOKE),
        (Room.KITCHEN, DeviceKind.GAS),
        (Room.BATHROOM, DeviceKind.WATER_LEAK),
        (Room.LIVING_ROOM, DeviceKind.TEMPERATURE),
        (Room.KITCHEN, DeviceKind.WATER_METER),
        (Room.ENTRANCE, DeviceKind.POWER_METER),
        (Room.BEDROOM, DeviceKind.SOS_BUTTON),
    ]
    pairs += [(room, DeviceKind.FALL_DETECTOR) for room in fall_detector_rooms]
    return pairs


def build_home(
    home_id: str,
    *,
    profile: Profile = Profile.MIXED,
    fall_detector_rooms: Sequence[Room] = (),
    seed: int = 0,
) -> Home:
    """Build a home's device set.

    Args:
        home_id: the home's id; device ids are derived from it (``{home_id}-{room}-{kind}``).
        profile: which zigbee-capable devices publish through the home's zigbee2mqtt gateway.
        fall_detector_rooms: rooms with a (radar) fall detector; a fall elsewhere is not detected by one.
        seed: picks, for the MIXED profile, which devices go through the gateway.

    Returns:
        The home; its gateway id is ``{home_id}-gateway`` when any device uses the gateway.
    """
    if not HOME_ID_RE.match(home_id):
        raise SimulatorError(f"home id {home_id!r} must match {HOME_ID_RE.pattern}")
    rng = random.Random(f"{seed}|{home_id}|layout")
    gateway_id = f"{home_id}-gateway"
    devices: list[Device] = []
    for room, kind in layout(fall_detector_rooms):
        device_id = device_id_for(home_id, room, kind)
        zigbee = kind in ZIGBEE_KINDS and (
            profile is Profile.ZIGBEE or (profile is Profile.MIXED and rng.random() < 0.5)
        )
        if zigbee:
            devices.append(
                Device(device_id, kind, room, Transport.Z2M, gateway_id, f"{room.value}_{kind.value}")
            )
        else:
            devices.append(Device(device_id, kind, room))
    if any(d.transport is Transport.Z2M for d in devices):
        devices.append(Device(gateway_id, DeviceKind.GATEWAY, Room.ENTRANCE))
        return Home(home_id, tuple(devices), gateway_id)
    return Home(home_id, tuple(devices))


def neighbourhood_profile(index: int, *, seed: int = 0) -> tuple[Profile, tuple[Room, ...]]:
    """The seeded profile and fall-detector rooms of the ``index``-th home of a neighbourhood."""
    rng = random.Random(f"{seed}|{index}|neighbourhood")
    profile = rng.choices(list(Profile), weights=(4, 3, 3))[0]
    detectors: tuple[Room, ...] = rng.choice(((), (), (Room.BATHROOM,), (Room.BATHROOM, Room.BEDROOM)))
    return profile, detectors


def neighbourhood_home(index: int, *, seed: int = 0) -> Home:
    """Build the ``index``-th home of a neighbourhood: a seeded mix of profiles and fall detectors."""
    profile, detectors = neighbourhood_profile(index, seed=seed)
    return build_home(home_id_for(index), profile=profile, fall_detector_rooms=detectors, seed=seed)
