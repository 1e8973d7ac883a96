"""The raw-socket load publisher against the real broker: every message arrives exactly once."""

from __future__ import annotations

import collections
import json
import threading
import uuid

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices import provisioning, registry
from devices.types import DeviceKind, Room
from monitor.loadpub import Device, LoadPubError, LoadSpec, publish_load
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.mqtt]


def _devices(db: psycopg.Connection, settings: Settings, n: int) -> list[Device]:
    tag = uuid.uuid4().hex[:8]
    registry.add_station(db, id=f"lp-st-{tag}", name="lp", lat=29.72, lon=106.63)
    registry.add_home(db, id=f"lp-h-{tag}", station_id=f"lp-st-{tag}", address="lp", lat=29.72, lon=106.63)
    ids = [f"lp-{tag}-{i}" for i in range(n)]
    for d in ids:
        registry.add_device(db, id=d, home_id=f"lp-h-{tag}", kind=DeviceKind.MOTION, room=Room.LIVING_ROOM)
    creds = provisioning.provision_many(db, device_ids=ids, broker=settings.mqtt())
    db.commit()
    return [Device(c.device_id, c.password) for c in creds]


class _Counter:
    def __init__(self, settings: Settings, prefix: str) -> None:
        ops = settings.mqtt(ops=True)
        self.seen: collections.Counter[tuple[str, int]] = collections.Counter()
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"lp-sub-{prefix}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(ops.username, ops.password.get_secret_value())
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.on_connect = lambda c, *_a: c.subscribe("eldercare/v1/devices/+/event", qos=1)
        self.client.on_message = self._on_message
        self.client.connect(ops.host, ops.port)
        self.client.loop_start()
        assert subscribed.wait(10)
        self.prefix = prefix

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        if f"/{self.prefix}" in m.topic:
            with self.lock:
                self.seen[(m.topic.split("/")[3], json.loads(m.payload)["seq"])] += 1

    def total(self) -> int:
        with self.lock:
            return sum(self.seen.values())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_all_messages_arrive_exactly_once(settings: Settings, db: psycopg.Connection) -> None:
    devices = _devices(db, settings, 3)
    prefix = devices[0].device_id.rsplit("-", 1)[0]
    sub = _Counter(settings, prefix)
    try:
        n = 3000  # per device, through a window of 50 in-flight messages
        spec = LoadSpec(settings.mqtt_host, settings.mqtt_port, count=n, seq_start=10, max_inflight=50)
        result = publish_load(devices, spec)
        assert result.sent == result.acked == 3 * n
        assert result.refused == 0
        assert len(result.ack_ms) == 3 * n
        p99 = result.percentile(0.99)
        assert p99 is not None
        assert 0 < p99 < 5000
        deadline = threading.Event()
        for _ in range(100):
            if sub.total() >= 3 * n:
                break
            deadline.wait(0.1)
        deadline.wait(0.3)  # anything extra (a duplicate) would arrive by now
        expected = {(d.device_id, seq) for d in devices for seq in range(10, 10 + n)}
        assert set(sub.seen) == expected
        assert max(sub.seen.values()) == 1
    finally:
        sub.close()


def test_paced_publishing_keeps_the_rate(settings: Settings, db: psycopg.Connection) -> None:
    devices = _devices(db, settings, 2)
    spec = LoadSpec(settings.mqtt_host, settings.mqtt_port, count=200, rate=400.0)
    result = publish_load(devices, spec)
    assert result.acked == 400
    assert 0.4 <= result.elapsed_s < 2.0  # 200 per device at 400/s each: half a second


def test_wrong_password_is_refused(settings: Settings, db: psycopg.Connection) -> None:
    (dev,) = _devices(db, settings, 1)
    spec = LoadSpec(settings.mqtt_host, settings.mqtt_port, count=1)
    with pytest.raises(LoadPubError, match="refused"):
        publish_load([Device(dev.device_id, dev.password + "x")], spec)
