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
    ) -> None:
        """Set up; nothing connects until the first publish.

        Args:
            host: broker host.
            port: broker port.
            credentials: password for a username (the device or gateway id).
            encode: payload for a reading of a device (native JSON or zigbee2mqtt JSON by ``device.transport``).
            max_inflight: QoS 1 messages not yet acknowledged, over all clients, before publish blocks.
            keepalive: MQTT keepalive in seconds.
        """
        self._host, self._port, self._keepalive = host, port, keepalive
        self._credentials, self._encode = credentials, encode
        self._clients: dict[str, mqtt.Client] = {}
        self._slots = threading.BoundedSemaphore(max_inflight)
        self._pending: dict[str, int] = {}  # QoS 1 messages awaiting PUBACK, per client
        self._lock = threading.Lock()
        self._net = NetLoop()
        self._net.start()
        self.published = 0

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
        client.connect_async(self._host, self._port, keepalive=self._keepalive)
        self._net.add(client)
        self._clients[client_id] = client
        return client

    @staticmethod
    def _on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            client.publish(status_topic(str(userdata)), b"online", qos=1, retain=True)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            if self._pending.get(str(userdata), 0) <= 0:
                return  # a status message, not a counted reading
            self._pending[str(userdata)] -= 1
        self._slots.release()

    def publish(self, device: Device, reading: Reading) -> None:
        """Publish one reading on the device's topic through its own (or its gateway's) client, QoS 1."""
        client_id = (
            device.gateway_id if device.transport is Transport.Z2M and device.gateway_id else device.device_id
        )
        self._slots.acquire()
        with self._lock:
            self._pending[client_id] = self._pending.get(client_id, 0) + 1
        info = self._client(client_id).publish(device.topic, self._encode(device, reading), qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self._forget(client_id, 1)
            raise ConnectionError(f"publish for {device.device_id} failed: {mqtt.error_string(info.rc)}")
        self.published += 1

    def _forget(self, client_id: str, count: int | None = None) -> None:
        """Give back the in-flight slots of messages that will never be acknowledged."""
        with self._lock:
            held = self._pending.get(client_id, 0)
            drop = held if count is None else min(count, held)
            self._pending[client_id] = held - drop
        for _ in range(drop):
            self._slots.release()

    def publish_item(self, home: Home, item: object) -> None:
        """Publish a reading of ``home`` or act on a status change; other items are ignored."""
        if isinstance(item, Reading):
            self.publish(home.by_id[item.device_id], item)
        elif isinstance(item, StatusChange):
            self.set_online(item.device_id, online=item.online)

    def set_online(self, client_id: str, *, online: bool) -> None:
        """Drop a client as if its power failed (the broker publishes its will) or bring it back."""
        client = self._clients.pop(client_id, None)
        if not online and client is not None:
            self._net.release(client)
            client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
            self._forget(client_id)
        elif online:
            self._client(client_id)

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
        deadline = time.monotonic() + timeout
        while any(not i.is_published() for i in infos) and time.monotonic() < deadline:
            time.sleep(0.05)
        for client in self._clients.values():
            self._net.release(client)
            client.disconnect()
        time.sleep(0.2)  # let the network thread send the DISCONNECTs
        self._net.stop()
        self._clients.clear()
