"""The MQTT topic contract (DESIGN.md §3): building topics and parsing a received topic into a route."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from devices.errors import ValidationFailed

PREFIX = "eldercare/v1"
_ID = r"[a-z0-9][a-z0-9_-]{2,63}"
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\- ]{0,63}"
_DEVICE = re.compile(rf"^{PREFIX}/devices/({_ID})/(event|status)$")
_Z2M = re.compile(rf"^{PREFIX}/gateways/({_ID})/z2m/({_NAME})(/availability)?$")


class TopicError(ValidationFailed):
    """A topic outside the contract: which part is wrong is in the message."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where a message came from: a native device, or a device bridged by a zigbee2mqtt gateway."""

    kind: Literal["event", "status"]
    device_id: str | None = None  # native devices (and gateways reporting their own status)
    gateway_id: str | None = None  # bridged devices: resolve (gateway_id, friendly_name) in the registry
    friendly_name: str | None = None


def device_event(device_id: str) -> str:
    return f"{PREFIX}/devices/{device_id}/event"


def device_status(device_id: str) -> str:
    return f"{PREFIX}/devices/{device_id}/status"


def device_cmd(device_id: str) -> str:
    return f"{PREFIX}/devices/{device_id}/cmd"


def gateway_z2m(gateway_id: str, friendly_name: str) -> str:
    return f"{PREFIX}/gateways/{gateway_id}/z2m/{friendly_name}"


def gateway_availability(gateway_id: str, friendly_name: str) -> str:
    return f"{gateway_z2m(gateway_id, friendly_name)}/availability"


def ingest_filters(shared_group: str | None = None) -> list[str]:
    """The subscriptions of an ingest worker; with a group, MQTT v5 shared ones (``$share/group/...``)."""
    filters = [device_event("+"), device_status("+"), f"{PREFIX}/gateways/+/z2m/#"]
    return [f"$share/{shared_group}/{f}" for f in filters] if shared_group else filters


def parse(topic: str) -> Route:
    """Route a received topic.

    Raises:
        TopicError: the topic is not one a device may publish on, or an id in it is malformed.
    """
    if m := _DEVICE.match(topic):
        return Route(kind="event" if m.group(2) == "event" else "status", device_id=m.group(1))
    if m := _Z2M.match(topic):
        if m.group(2) == "bridge":
            raise TopicError("zigbee2mqtt bridge topics are not device data")
        return Route(
            kind="status" if m.group(3) else "event", gateway_id=m.group(1), friendly_name=m.group(2)
        )
    if not topic.startswith(PREFIX + "/"):
        raise TopicError(f"not under {PREFIX}/")
    parts = topic.split("/")
    if len(parts) >= 4 and parts[2] in ("devices", "gateways") and not re.fullmatch(_ID, parts[3]):
        raise TopicError(f"malformed {parts[2][:-1]} id {parts[3][:70]!r}")
    raise TopicError(f"no such topic {topic[:120]!r}")
