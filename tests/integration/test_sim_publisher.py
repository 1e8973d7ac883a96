"""The simulator's publisher against the private broker: a device that cannot connect stalls no other."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg

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
