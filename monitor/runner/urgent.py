"""The urgent lane: a second broker session subscribed only to life-safety devices' topics.

Under a backlog of routine readings an SOS on the main (wildcard) subscription waits behind everything the
broker and the socket already hold for this process. This session receives life-safety messages (SOS,
fall, smoke, gas, leak) at once; they also arrive on the main session later, where the worker drops them
as duplicates (``Dedup``). Messages are acknowledged on the session they came from, after the commit.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices import topics
from devices.settings import MqttSettings
from devices.types import DeviceKind
from monitor.ingest.fastclient import FastClient
from monitor.ingest.pipeline import DeviceIndex, RawMessage
from monitor.ingest.worker import _Pending

log = logging.getLogger("eldercare.rules")
URGENT_KINDS = frozenset(
    {DeviceKind.SOS_BUTTON, DeviceKind.FALL_DETECTOR, DeviceKind.SMOKE, DeviceKind.GAS, DeviceKind.WATER_LEAK}
)
SUBSCRIBE_CHUNK = 500  # topics per SUBSCRIBE packet
DEDUP_KEEP = 20_000  # recent urgent messages remembered to drop their second copy


@dataclass(frozen=True, slots=True)
class UrgentPending(_Pending):
    """A message received on the urgent session (acknowledged there)."""


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
    """Which urgent messages (topic and payload bytes) were already taken from either session."""

    def __init__(self, keep: int = DEDUP_KEEP) -> None:
        self._seen: set[tuple[str, bytes]] = set()
        self._order: collections.deque[tuple[str, bytes]] = collections.deque()
        self._keep = keep
        self._lock = threading.Lock()

    def first(self, msg: RawMessage) -> bool:
        """True the first time this message is seen; False for its copy from the other session."""
        key = (msg.topic, msg.payload)
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            self._order.append(key)
            if len(self._order) > self._keep:
                self._seen.discard(self._order.popleft())
            return True


class UrgentLane:
    """The urgent session: subscribes to ``watch``-ed topics and hands each message to ``deliver``."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        session_expiry_s: int,
        deliver: Callable[[_Pending], None],
    ) -> None:
        self.settings, self.session_expiry_s, self.deliver = settings, session_expiry_s, deliver
        self.topics: set[str] = set()
        self.generation = 0
        self.client = FastClient(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        self.client.username_pw_set(settings.username, settings.password.get_secret_value())
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_raw_message = self._on_raw
        self._connected = threading.Event()

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: mqtt.ConnectFlags, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            log.error("urgent lane: broker refused the connection: %s", rc)
            return
        self.generation += 1
        self._connected.set()
        self._subscribe(sorted(self.topics))
        log.info("urgent lane connected: %d life-safety topics", len(self.topics))

    def _subscribe(self, names: Iterable[str]) -> None:
        names = list(names)
        for i in range(0, len(names), SUBSCRIBE_CHUNK):
            self.client.subscribe([(t, 1) for t in names[i : i + SUBSCRIBE_CHUNK]])

    def _on_raw(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool) -> None:
        msg = RawMessage(topic, payload, datetime.now(UTC), retain)
        self.deliver(UrgentPending(self.generation, mid, qos, msg))

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        self._on_raw(m.topic, bytes(m.payload), m.mid, m.qos, bool(m.retain))

    def watch(self, wanted: set[str]) -> None:
        """Subscribe to topics not yet watched (devices are never unwatched: a stray message is harmless)."""
        new = wanted - self.topics
        if not new:
            return
        self.topics |= new
        if self._connected.is_set():
            self._subscribe(sorted(new))
            log.info("urgent lane: %d more life-safety topics", len(new))

    def ack(self, batch: list[_Pending]) -> None:
        """Acknowledge this session's messages of the current connection (QoS 1)."""
        gen = self.generation
        self.client.ack_many([p.mid for p in batch if p.qos == 1 and p.generation == gen])

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry_s
        self.client.connect_async(
            self.settings.host, self.settings.port, clean_start=False, properties=props, keepalive=30
        )
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
