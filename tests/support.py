"""Test helpers: register and provision a home's devices, publish as a device, run ingest as a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices import provisioning, registry
from devices.types import DeviceKind, Room
from dispatcher.records import DEFAULT_TZ
from web.settings import Settings


def wait_until(check: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


@dataclass
class TestHome:
    __test__ = False  # a helper, not a test class
    home_id: str
    native: str  # a native motion sensor
    gateway: str
    door: str  # a door contact bridged by the gateway as "front_door"
    passwords: dict[str, str] = field(default_factory=dict)


def make_home(conn: psycopg.Connection, settings: Settings) -> TestHome:
    tag = uuid.uuid4().hex[:8]
    station = f"st-{tag}"
    home = TestHome(home_id=f"h-{tag}", native=f"m-{tag}", gateway=f"gw-{tag}", door=f"door-{tag}")
    registry.add_station(conn, id=station, name="测试站", lat=29.72, lon=106.63)
    registry.add_home(conn, id=home.home_id, station_id=station, address="测试路1号", lat=29.721, lon=106.631)
    registry.add_resident(conn, id=f"r-{tag}", home_id=home.home_id, name="张阿姨", birth_year=1941, sex="F")
    registry.add_device(
        conn, id=home.native, home_id=home.home_id, kind=DeviceKind.MOTION, room=Room.BATHROOM
    )
    registry.add_device(
        conn, id=home.gateway, home_id=home.home_id, kind=DeviceKind.GATEWAY, room=Room.HALLWAY
    )
    registry.add_device(
        conn, id=home.door, home_id=home.home_id, kind=DeviceKind.DOOR, room=Room.ENTRANCE,
        gateway_id=home.gateway, z2m_friendly_name="front_door",
    )  # fmt: skip
    for device_id in (home.native, home.gateway):
        creds = provisioning.provision(conn, device_id=device_id, broker=settings.mqtt())
        home.passwords[device_id] = creds.password
    return home


def native_payload(seq: int, *, ts: datetime | None = None, **values: object) -> bytes:
    stamp = (ts or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"ts": stamp, "seq": seq, "kind": "motion", "values": values or {"occupancy": True}}
    ).encode()


class DevicePublisher:
    """A paho client with a device's own credentials and a persistent session, publishing at QoS 1."""

    def __init__(
        self, settings: Settings, username: str, password: str, *, client_id: str | None = None
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"pub-{username}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(username, password)
        self._sent = self._acked = 0
        self.client.on_publish = self._on_publish
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.client.on_connect = lambda _c, _u, _f, rc, _p: (
            self.connected.set() if not rc.is_failure else None
        )
        self.client.on_disconnect = self._on_disconnect
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect(settings.mqtt_host, settings.mqtt_port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.connected.wait(10), f"{username} could not connect"

    @property
    def acked(self) -> int:
        return self._acked

    def _on_publish(self, *_a: object) -> None:
        self._acked += 1

    def _on_disconnect(self, *_a: object) -> None:
        self.connected.clear()
        self.disconnected.set()

    def publish(self, topic: str, payload: bytes, *, wait: bool = True) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=1)
        self._sent += 1
        if wait:
            info.wait_for_publish(10)
        return info

    def close(self, timeout: float = 60) -> None:
        """Disconnect once the broker has acknowledged everything published (QoS 1 acks come in order)."""
        wait_until(lambda: self._acked >= self._sent, timeout)
        self.client.disconnect()
        self.client.loop_stop()


_PROCESSES: list[subprocess.Popen[bytes]] = []


def kill_leftovers() -> None:
    """Kill processes a failed test left running, so they cannot consume the next test's messages."""
    while _PROCESSES:
        proc = _PROCESSES.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


class IngestProcess:
    """`eldercare ingest` as a real process; its log goes to a file the test can read."""

    def __init__(self, stack_dir: Path, worker_id: str, log_path: Path, *extra: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "ingest", "--dir", str(stack_dir), "--worker-id", worker_id,
             "--batch-age-ms", "50", *extra],
            stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        _PROCESSES.append(self.proc)
        assert wait_until(lambda: "connected (session present" in self.log(), 20), self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self._log.close()
        return rc


class CliProcess:
    """Any long-running `eldercare …` command as a real process, ready once ``ready`` appears in its log."""

    def __init__(self, args: list[str], log_path: Path, ready: str, timeout: float = 30) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "web.cli", *args],
            stdout=self._log,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
        )
        _PROCESSES.append(self.proc)
        assert wait_until(lambda: ready in self.log() or self.proc.poll() is not None, timeout), self.log()
        assert self.proc.poll() is None, self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self._log.close()
        return rc


def count(conn: psycopg.Connection, sql: str, *args: object) -> int:
    row = conn.execute(sql, args).fetchone()
    conn.commit()
    return int(row[0]) if row else 0


def skip_near_local_midnight() -> None:
    """Shifts and plans are per local day (Asia/Shanghai): between 23:00 and 01:00 an urgent job of two hours
    cannot fit before the shift ends, so a test that needs one is skipped then, and says why."""
    if not 1 <= datetime.now(DEFAULT_TZ).hour < 23:
        pytest.skip(
            "an urgent job near local midnight does not fit the day's shift: run outside 23:00-01:00 Asia/Shanghai"
        )


def around(before_h: float, after_h: float) -> dict[str, str]:
    """A local (Asia/Shanghai) window around now, clipped to the day, as ``{"start", "end"}`` HH:MM: the tests
    run at any hour and routes stay short (a caregiver works at most 8 hours, so a day planned in the morning
    cannot take an evening job)."""
    now = datetime.now(DEFAULT_TZ)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    lo = max(midnight, now - timedelta(hours=before_h))
    hi = min(midnight + timedelta(hours=23, minutes=59), now + timedelta(hours=after_h))
    return {"start": lo.strftime("%H:%M"), "end": hi.strftime("%H:%M")}
