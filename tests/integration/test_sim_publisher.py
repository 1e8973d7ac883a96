"""The simulator's publisher against the private broker: a device that cannot connect stalls no other."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import MQTTErrorCode

from devices.types import DeviceKind, Reading, Room
from simulators.home import Device
from simulators.publish import Publisher
from tests.support import make_home, wait_until
from web.settings import Settings


def _reading(device_id: str, seq: int) -> Reading:
    return Reading(device_id, datetime.now(UTC), seq, DeviceKind.MOTION, {"occupancy": True})


def test_a_client_that_cannot_connect_does_not_stall_the_others(
    db: psycopg.Connection, settings: Settings
) -> None:
    home = make_home(db, settings)
    mq = settings.mqtt()
    pub = Publisher(
        host=mq.host,
        port=mq.port,
        credentials=lambda user: home.passwords.get(user, "not-its-password"),
        encode=lambda device, reading: b'{"occupancy": true}',
        max_inflight=2,
    )
    ghost = Device("ghost-never-provisioned", DeviceKind.MOTION, Room.BATHROOM)
    real = Device(home.native, DeviceKind.MOTION, Room.BATHROOM)
    try:
        pub.connect([home.native])
        assert wait_until(lambda: pub.connected == 1, timeout=20)
        done = threading.Event()

        def publish_all() -> None:
            for seq in range(10):
                pub.publish(ghost, _reading(ghost.device_id, seq))  # refused by the broker: buffered
            for seq in range(10):
                pub.publish(real, _reading(real.device_id, seq))
            done.set()

        threading.Thread(target=publish_all, daemon=True).start()
        assert done.wait(20), "publishing stalled behind a client that never connects"
        assert wait_until(lambda: pub.unacked() == 10, timeout=20)  # the real device's ten were acknowledged
        assert pub.online() == {home.native}
        assert not pub.flush(0.5)  # the ghost's ten are still owed
    finally:
        pub.close(5)


def test_a_busy_client_keeps_sending_while_its_write_wakeups_race_the_network_thread(
    db: psycopg.Connection, settings: Settings
) -> None:
    """Many readings from the simulation thread on two clients: none may be left unsent in paho's queue.

    The publishing thread queues a packet and asks for a write wakeup while the network thread is finishing
    a write of the same client; a lost wakeup leaves the packet (and every later one of that client) unsent,
    so its in-flight slots are never given back and publishing stalls until the broker drops the client.
    """
    home = make_home(db, settings)
    mq = settings.mqtt()
    pub = Publisher(
        host=mq.host,
        port=mq.port,
        credentials=lambda user: home.passwords[user],
        encode=lambda device, reading: b'{"occupancy": true}',
        max_inflight=8,
    )
    devices = [
        Device(home.native, DeviceKind.MOTION, Room.BATHROOM),
        Device(home.gateway, DeviceKind.GATEWAY, Room.HALLWAY),
    ]
    total = 30_000
    try:
        pub.connect([d.device_id for d in devices])
        assert wait_until(lambda: pub.connected == 2, timeout=20)
        done = threading.Event()

        def publish_all() -> None:
            for seq in range(total):
                device = devices[seq % 2]
                pub.publish(device, _reading(device.device_id, seq))
            done.set()

        threading.Thread(target=publish_all, daemon=True).start()
        assert done.wait(30), f"publishing stalled after {pub.published} of {total} readings"
        assert pub.flush(10), f"{pub.unacked()} readings never acknowledged"
        assert pub.published == total
    finally:
        pub.close(5)


def test_a_reading_queued_while_the_network_thread_finishes_a_write_is_still_sent(
    db: psycopg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race made certain: a reading is queued just after the network thread found the client's queue
    empty and before it stops watching the socket for writing (paho still thinks it watches, so it does not
    ask again). The reading must still go out, with no later reading to push it."""
    home = make_home(db, settings)
    mq = settings.mqtt()
    device = Device(home.native, DeviceKind.MOTION, Room.BATHROOM)
    race = {"armed": False, "fired": False, "writing": False}

    class RacingClient(mqtt.Client):
        def loop_write(self) -> MQTTErrorCode:
            race["writing"] = True  # paho asks want_write() at the end of its write
            try:
                return super().loop_write()
            finally:
                race["writing"] = False

        def want_write(self) -> bool:
            queued = super().want_write()
            if race["armed"] and race["writing"] and not queued:
                race["armed"], race["fired"] = False, True
                late = threading.Thread(target=pub.publish, args=(device, _reading(device.device_id, 2)))
                late.start()
                late.join(5)
            return queued

    monkeypatch.setattr(mqtt, "Client", RacingClient)
    pub = Publisher(
        host=mq.host,
        port=mq.port,
        credentials=lambda user: home.passwords[user],
        encode=lambda device, reading: b'{"occupancy": true}',
    )
    try:
        pub.connect([device.device_id])
        assert wait_until(lambda: pub.connected == 1, timeout=20)
        race["armed"] = True
        pub.publish(device, _reading(device.device_id, 1))  # its write ends with the race above
        assert wait_until(lambda: race["fired"], timeout=10)
        assert pub.flush(5), f"{pub.unacked()} reading(s) left unsent in the client's queue"
    finally:
        pub.close(5)
