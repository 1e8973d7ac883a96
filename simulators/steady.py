"""Publishers for fault drills: a steady reading load and SOS presses that keep going through broker restarts,
and know exactly which of their QoS 1 messages the broker acknowledged.

Each message has a key (device id, seq). A message counts as *acknowledged* once the broker's PUBACK (success
reason code) arrived for it; only those are the platform's responsibility, so a drill compares them with what
was stored. The clients are paho MQTT v5 with a persistent session (clean start off, a session expiry): when
the broker goes away paho keeps the unacknowledged messages, reconnects within a couple of seconds and sends
them again (DUP), and publishes made while it is down wait in paho's queue, as a real device's would.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices import topics
from devices.telemetry import encode_native
from devices.types import DeviceKind, Reading

Key = tuple[str, int]  # (device id, seq): unique per message, and the reading's key once stored


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    session_expiry_s: int = 600  # long enough to outlive a broker restart, short enough not to linger
    keepalive_s: int = 10


class AckedClient:
    """One paho client that publishes QoS 1 and records which messages the broker acknowledged.

    paho calls ``on_publish`` on its network thread while holding its own lock, so the callback only
    appends to a deque; the ids are matched to keys under this object's lock by the publishing thread
    (:meth:`collect`). A message id is reused only after 65,535 later publishes, so a pending ack cannot
    be matched to the wrong message.
    """

    def __init__(
        self, broker: Broker, *, username: str, password: str, client_id: str, max_inflight: int = 100
    ):
        self._broker = broker
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self._client.username_pw_set(username, password)
        # Retry 0.1 s after a drop, backing off to 0.5 s (paho's default: 1 s to 2 min), so that a drill's delays
        # are the platform's recovery rather than a client's back-off. paho annotates int; it computes in float.
        self._client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)  # type: ignore[arg-type]
        self._client.max_inflight_messages_set(max_inflight)
        self._client.max_queued_messages_set(0)  # unbounded: a device keeps what it could not send yet
        self._client.on_publish = self._on_publish
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._acks: collections.deque[tuple[int, bool, float]] = collections.deque()  # (mid, ok, when)
        self._lock = threading.Lock()
        self._keys: dict[int, Key] = {}  # message id -> key, for messages not acknowledged yet
        self.acked: dict[Key, float] = {}  # key -> wall-clock time its PUBACK was seen
        self.refused: list[Key] = []  # PUBACK with a failure reason code
        self.published = 0
        self.connects = 0
        self.connected = threading.Event()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            self.connects += 1
            self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._acks.append((mid, not reason.is_failure, time.time()))

    def start(self, timeout_s: float = 15.0) -> None:
        """Connect (persistent session) and start paho's network thread; wait for the first CONNACK."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._broker.session_expiry_s
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=self._broker.keepalive_s,
                                   clean_start=False, properties=props)  # fmt: skip
        self._client.loop_start()
        if not self.connected.wait(timeout_s):
            self.close(drain_s=0)
            raise ConnectionError(
                f"no CONNACK from {self._broker.host}:{self._broker.port} in {timeout_s:.0f} s"
            )

    def publish(self, topic: str, payload: bytes, key: Key) -> None:
        """Publish at QoS 1; while disconnected paho queues it and sends it after the reconnect."""
        with self._lock:
            self._collect()
            info = self._client.publish(topic, payload, qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                raise ConnectionError(f"publish {key} failed: {mqtt.error_string(info.rc)}")
            self._keys[info.mid] = key
            self.published += 1

    def _collect(self) -> None:
        while self._acks:
            mid, ok, at = self._acks.popleft()
            key = self._keys.pop(mid, None)
            if key is None:
                continue
            if ok:
                self.acked.setdefault(key, at)
            else:
                self.refused.append(key)

    def collect(self) -> int:
        """Match the PUBACKs that arrived; returns how many messages are still unacknowledged."""
        with self._lock:
            self._collect()
            return len(self._keys)

    def acked_before(self, t: float) -> int:
        """How many messages the broker had acknowledged by wall-clock time ``t``."""
        with self._lock:
            self._collect()
            return sum(at <= t for at in self.acked.values())

    def close(self, drain_s: float = 30.0) -> int:
        """Wait up to ``drain_s`` for outstanding acks, then disconnect; returns how many never came."""
        deadline = time.monotonic() + drain_s
        while self.collect() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._client.disconnect()
        self._client.loop_stop()
        return self.collect()


def _stamp() -> datetime:
    """Now, to the millisecond: the payload carries milliseconds, so the stored ts equals this exactly."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class SteadyLoad(threading.Thread):
    """Motion readings round-robin over ``devices`` at ``rate`` per second through one client (ops account)."""

    def __init__(self, client: AckedClient, devices: Sequence[str], rate: float) -> None:
        super().__init__(name="steady-load", daemon=True)
        self.client, self.devices, self.rate = client, list(devices), rate
        self.stop_event = threading.Event()
        self._topics = [topics.device_event(d) for d in self.devices]
        self.started: float | None = None  # monotonic, once running
        self.sent = 0

    @property
    def rate_achieved(self) -> float | None:
        """Readings handed to the client per second since the start (None before it)."""
        return None if self.started is None else self.sent / max(1e-9, time.monotonic() - self.started)

    def run(self) -> None:
        t0 = self.started = time.monotonic()
        n = len(self.devices)
        while not self.stop_event.is_set():
            for _ in range(max(0, int((time.monotonic() - t0) * self.rate) - self.sent)):
                i = self.sent % n
                seq = self.sent // n + 1  # monotonic per device
                reading = Reading(
                    self.devices[i], _stamp(), seq, DeviceKind.MOTION, {"occupancy": seq % 3 == 0}
                )
                self.client.publish(self._topics[i], encode_native(reading), (self.devices[i], seq))
                self.sent += 1
            time.sleep(0.01)


@dataclass(frozen=True)
class Press:
    home_id: str
    device_id: str
    seq: int
    ts: datetime  # the payload's ts, which the alert's evidence repeats (reading_ts)
    pressed_at: float  # wall clock just before publishing


class SosButtons:
    """One connected client per SOS button (its own credentials); presses rotate over the homes."""

    def __init__(self, broker: Broker, buttons: dict[str, tuple[str, str]], tag: str) -> None:
        """``buttons``: home id -> (device id, password); ``tag`` makes the client ids unique to this run."""
        self.broker, self.buttons, self.tag = broker, buttons, tag
        self.clients: dict[str, AckedClient] = {}
        self.presses: list[Press] = []
        self._order = itertools.cycle(sorted(buttons))
        self._seq = itertools.count(1)
        self._lock = threading.Lock()  # a drill presses from its presser thread and at each fault

    def start(self) -> None:
        for device, password in self.buttons.values():
            client = AckedClient(
                self.broker, username=device, password=password, client_id=f"{device}-{self.tag}"
            )
            self.clients[device] = client
            client.start()

    def press(self) -> Press:
        """Press the next home's button (a unique seq), remembering when."""
        with self._lock:
            home = next(self._order)
            device = self.buttons[home][0]
            seq, ts = next(self._seq), _stamp()
            payload = encode_native(Reading(device, ts, seq, DeviceKind.SOS_BUTTON, {"action": "sos"}))
            press = Press(home, device, seq, ts, time.time())
            self.clients[device].publish(topics.device_event(device), payload, (device, seq))
            self.presses.append(press)
        return press

    def acked(self) -> dict[Key, float]:
        out: dict[Key, float] = {}
        for client in self.clients.values():
            client.collect()
            out |= client.acked
        return out

    def close(self, drain_s: float = 30.0) -> int:
        """Disconnect every button after its acks (``drain_s`` in all); returns the presses never acknowledged."""
        deadline = time.monotonic() + drain_s
        return sum(c.close(max(0.0, deadline - time.monotonic())) for c in self.clients.values())
