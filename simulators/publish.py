"""A paho-mqtt 2.x publisher for simulated devices: one client per device or gateway, its own credentials.

Native devices publish on ``eldercare/v1/devices/{id}/event``; zigbee2mqtt devices through their gateway's
client on ``eldercare/v1/gateways/{gw}/z2m/{name}``. Each client has a retained ``online``/``offline``
status with a will, MQTT v5, QoS 1, and a cap on QoS 1 messages in flight (all clients together).
All clients share one network thread (simulators.netloop): thousands of clients per process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from devices.telemetry import encode_native, encode_z2m
from devices.types import Reading
from simulators.home import Device, Home, Transport
from simulators.netloop import NetLoop
from simulators.order import OrderGate
from simulators.sensors import StatusChange

Encoder = Callable[[Device, Reading], bytes]
Credentials = Callable[[str], str]  # username (device or gateway id) -> password


def encode(device: Device, reading: Reading) -> bytes:
    """The platform's payload for a reading: native JSON, or zigbee2mqtt JSON for a bridged device."""
    return encode_z2m(reading) if device.transport is Transport.Z2M else encode_native(reading)


def status_topic(client_id: str) -> str:
    """The retained online/offline topic of a device or gateway."""
    return f"eldercare/v1/devices/{client_id}/status"


class Publisher:
    """Publishes simulated readings, connecting each device or gateway lazily on its first message."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        credentials: Credentials,
        encode: Encoder,
        max_inflight: int = 1000,
        keepalive: int = 60,
        connect_rate: float = 0.0,
        bind_address: str = "",
        order_window_s: float | None = None,
    ) -> None:
        """Set up; nothing connects until the first publish.

        Args:
            host: broker host.
            port: broker port.
            credentials: password for a username (the device or gateway id).
            encode: payload for a reading of a device (native JSON or zigbee2mqtt JSON by ``device.transport``).
            max_inflight: QoS 1 messages not yet acknowledged, over all clients, before publish blocks.
            keepalive: MQTT keepalive in seconds.
            connect_rate: new connections per second at most (0: no limit).
            bind_address: local address to connect from (e.g. 127.0.0.2: each local address has its own
                28,000 ephemeral ports towards the broker).
            order_window_s: hold a reading back until the broker has acknowledged every reading stamped
                more than this many seconds before it (``simulators.order``; None: no such wait).
        """
        self._host, self._port, self._keepalive, self._bind = host, port, keepalive, bind_address
        self._credentials, self._encode = credentials, encode
        self._clients: dict[str, mqtt.Client] = {}
        self._slots = threading.BoundedSemaphore(max_inflight)
        self._pending: dict[str, int] = {}  # QoS 1 messages awaiting PUBACK, per client
        self._slotted: dict[str, int] = {}  # of those, the ones sent while connected (holding a slot)
        self._lock = threading.Lock()
        self._net = NetLoop(connect_rate=connect_rate)
        self._net.start()
        self.published = 0
        self._up: set[str] = set()  # clients connected now (the network thread adds, either thread drops)
        self.order = OrderGate(order_window_s) if order_window_s is not None else None

    def _client(self, client_id: str) -> mqtt.Client:
        client = self._clients.get(client_id)
        if client is not None:
            return client
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, userdata=client_id, protocol=mqtt.MQTTv5
        )
        client.username_pw_set(client_id, self._credentials(client_id))
        client.will_set(status_topic(client_id), b"offline", qos=1, retain=True)
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_disconnect = self._on_disconnect
        client.connect_async(self._host, self._port, keepalive=self._keepalive, bind_address=self._bind)
        self._clients[client_id] = client  # before the network thread can connect it (see _on_connect)
        self._net.add(client)
        return client

    def connect(self, client_ids: list[str]) -> None:
        """Connect these devices and gateways now (paced by ``connect_rate``) instead of on first message."""
        for client_id in client_ids:
            self._client(client_id)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not reason.is_failure and self._clients.get(str(userdata)) is client:
            self._up.add(str(userdata))
            client.publish(status_topic(str(userdata)), b"online", qos=1, retain=True)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._clients.get(str(userdata)) is not client:
            return  # a client dropped by set_online: its successor (if any) keeps the id's counters
        self._up.discard(str(userdata))
        self._release(str(userdata))  # its messages wait in paho for the reconnect; other clients go on
        if self.order is not None:
            self.order.drop_client(str(userdata))

    def online(self) -> set[str]:
        """The ids of the clients connected now (a copy)."""
        return self._up.copy()

    @property
    def connected(self) -> int:
        """Clients connected to the broker now."""
        return len(self._up)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        client_id = str(userdata)
        with self._lock:
            if self._pending.get(client_id, 0) <= 0:
                return  # a status message, not a counted reading
            self._pending[client_id] -= 1
            slotted = self._slotted.get(client_id, 0) > 0
            if slotted:
                self._slotted[client_id] -= 1
        if slotted:
            self._slots.release()
            if self.order is not None:
                self.order.acked((client_id, mid))

    def publish(self, device: Device, reading: Reading) -> None:
        """Publish one reading on the device's topic through its own (or its gateway's) client, QoS 1."""
        client_id = (
            device.gateway_id if device.transport is Transport.Z2M and device.gateway_id else device.device_id
        )
        # Only a connected client takes an in-flight slot: one that is still connecting (or cannot connect)
        # buffers its messages like a real device does, and must not stall every other client's publishing.
        slotted = client_id in self._up
        if slotted and self.order is not None:
            self.order.wait(reading.ts.timestamp())
        if slotted:
            self._slots.acquire()
        with self._lock:
            self._pending[client_id] = self._pending.get(client_id, 0) + 1
            if slotted:
                self._slotted[client_id] = self._slotted.get(client_id, 0) + 1
        client = self._client(client_id)
        info = client.publish(device.topic, self._encode(device, reading), qos=1)
        self._net.wake(client)  # paho's own write wakeup can be lost to a race with the network thread
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self._forget(client_id, 1)
            raise ConnectionError(f"publish for {device.device_id} failed: {mqtt.error_string(info.rc)}")
        if slotted and self.order is not None:
            self.order.sent((client_id, info.mid), reading.ts.timestamp())
        self.published += 1

    def _forget(self, client_id: str, count: int | None = None) -> None:
        """Stop waiting for messages that will never be acknowledged, and give back their slots."""
        with self._lock:
            held = self._pending.get(client_id, 0)
            drop = held if count is None else min(count, held)
            self._pending[client_id] = held - drop
        self._release(client_id, drop)

    def _release(self, client_id: str, count: int | None = None) -> None:
        """Give back in-flight slots held by a client's messages (all of them when ``count`` is None)."""
        with self._lock:
            held = self._slotted.get(client_id, 0)
            drop = held if count is None else min(count, held)
            self._slotted[client_id] = held - drop
        for _ in range(drop):
            self._slots.release()

    def publish_item(self, home: Home, item: object) -> None:
        """Publish a reading of ``home`` or act on a status change; other items are ignored."""
        if isinstance(item, Reading):
            self.publish(home.by_id[item.device_id], item)
        elif isinstance(item, StatusChange):
            self.set_online(item.device_id, online=item.online)

    def set_online(self, client_id: str, *, online: bool) -> None:
        """Drop a client as if its power failed (the broker publishes its will) or bring it back.

        Bringing back a client that is there already does nothing (a second client with the same id would
        take the session over from the first, and the two would take it from each other on every reconnect).
        """
        if online:
            self._client(client_id)
            return
        client = self._clients.pop(client_id, None)
        if client is not None:
            self._up.discard(client_id)  # its own on_disconnect is ignored: it is no longer the id's client
            self._net.release(client)
            client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
            self._net.wake(client)
            self._forget(client_id)
            if self.order is not None:
                self.order.drop_client(client_id)

    def unacked(self) -> int:
        """QoS 1 readings published but not yet acknowledged by the broker."""
        with self._lock:
            return sum(self._pending.values())

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the broker has acknowledged every reading published; False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        while self.unacked() > 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Mark every client offline, disconnect cleanly and stop the network thread."""
        infos = [
            client.publish(status_topic(client_id), b"offline", qos=1, retain=True)
            for client_id, client in self._clients.items()
            if client.is_connected()
        ]
        for client in self._clients.values():
            self._net.wake(client)
        deadline = time.monotonic() + timeout
        while any(not i.is_published() for i in infos) and time.monotonic() < deadline:
            time.sleep(0.05)
        for client in self._clients.values():
            self._net.release(client)
            client.disconnect()
            self._net.wake(client)
        time.sleep(0.2)  # let the network thread send the DISCONNECTs
        self._net.stop()
        self._clients.clear()
