"""The urgent lane: a second broker session subscribed only to life-safety devices' topics.

Under a backlog of routine readings an SOS on the main (wildcard) subscription waits behind everything the
broker and the socket already hold for this process. This session receives life-safety messages (SOS,
fall, smoke, gas, leak) at once; they also arrive on the main session later, where the worker drops them
as duplicates (``Dedup``). Messages are acknowledged on the session they came from, after the commit.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
from collections.abc import Callable

from devices import topics
from devices.types import DeviceKind
from monitor.ingest.pipeline import DeviceIndex, RawMessage

log = logging.getLogger("eldercare.rules")
URGENT_KINDS = frozenset(
    {DeviceKind.SOS_BUTTON, DeviceKind.FALL_DETECTOR, DeviceKind.SMOKE, DeviceKind.GAS, DeviceKind.WATER_LEAK}
)
SUBSCRIBE_CHUNK = 500  # topics per SUBSCRIBE packet
DEDUP_KEEP = 20_000  # recent urgent messages remembered to drop their second copy


def urgent_topics(index: DeviceIndex, owns: Callable[[str], bool]) -> set[str]:
    """The event topics of the life-safety devices in homes this worker owns (native and zigbee2mqtt)."""
    out: set[str] = set()
    for info in index.by_id.values():
        if info.kind in URGENT_KINDS and info.status != "revoked" and info.home_id and owns(info.home_id):
            out.add(topics.device_event(info.device_id))
    for (gateway, name), device_id in index.by_z2m.items():
        if device_id in index.by_id and topics.device_event(device_id) in out:
            out.add(topics.gateway_z2m(gateway, name))
    return out


class Dedup:
    """Which urgent messages (topic and payload bytes) were already taken from either session.

    Only a 16-byte digest of each is kept, so memory stays at about 2 MB whatever the devices send.
    """

    def __init__(self, keep: int = DEDUP_KEEP) -> None:
        self._seen: set[bytes] = set()
        self._order: collections.deque[bytes] = collections.deque()
        self._keep = keep
        self._lock = threading.Lock()

    def first(self, msg: RawMessage) -> bool:
        """True the first time this message is seen; False for its copy from the other session."""
        key = hashlib.blake2b(
            msg.topic.encode("utf-8", "surrogatepass") + b"\0" + msg.payload, digest_size=16
        ).digest()
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            self._order.append(key)
            if len(self._order) > self._keep:
                self._seen.discard(self._order.popleft())
            return True
