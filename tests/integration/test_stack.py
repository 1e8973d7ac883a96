"""The private stack: TimescaleDB loaded, Mosquitto authenticating and enforcing ACLs, clean up/down."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from devices.mqtt_auth import hash_password, read_password_file, signal_reload, write_password_file
from web.settings import Settings
from web.stack import mosquitto

pytestmark = [pytest.mark.db, pytest.mark.mqtt]
ELDERCARE = [sys.executable, "-m", "web.cli"]


def test_timescaledb_is_preloaded_and_hypertable_takes_rows(db: psycopg.Connection) -> None:
    preload = db.execute("SHOW shared_preload_libraries").fetchone()
    assert preload is not None
    assert "timescaledb" in preload[0]
    assert (
        db.execute("SELECT extversion FROM pg_extension WHERE extname='timescaledb'").fetchone() is not None
    )
    names = {r[0] for r in db.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")}
    assert "reading" in names
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO reading (time, device_id, seq, kind, data) VALUES (%s, 'dev-x', %s, 'motion', '{}')",
            [(t0 + timedelta(hours=6 * i), i) for i in range(12)],
        )
    chunks = db.execute("SELECT count(*) FROM show_chunks('reading')").fetchone()
    assert chunks is not None
    assert chunks[0] >= 3  # 1-day chunks over 3 days
    buckets = db.execute(
        "SELECT time_bucket('1 day', time) AS d, count(*) FROM reading WHERE device_id='dev-x' GROUP BY d ORDER BY d"
    ).fetchall()
    assert [n for _, n in buckets] == [4, 4, 4]


def _client(settings: Settings, user: str | None, password: str | None, cid: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    if user is not None:
        c.username_pw_set(user, password)
    return c


def _connect_rc(settings: Settings, user: str | None, password: str | None) -> int:
    result: list[int] = []
    done = threading.Event()
    c = _client(settings, user, password, f"probe-{os.getpid()}-{time.monotonic_ns()}")

    def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        result.append(rc.value)
        done.set()

    c.on_connect = on_connect
    c.connect(settings.mqtt_host, settings.mqtt_port)
    c.loop_start()
    done.wait(5)
    c.loop_stop()
    c.disconnect()
    return result[0] if result else -1


def test_mosquitto_refuses_anonymous_and_wrong_passwords(settings: Settings) -> None:
    assert _connect_rc(settings, None, None) != 0
    assert _connect_rc(settings, settings.mqtt_ops_username, "not-the-password") != 0
    assert (
        _connect_rc(settings, settings.mqtt_ops_username, settings.mqtt_ops_password.get_secret_value()) == 0
    )
    # The same through a bare MQTT 3.1.1 CONNECT, as `stack status` checks it.
    assert mosquitto.connack(settings.mqtt_port, None, None) == 5


def add_account(settings: Settings, user: str, password: str) -> None:
    assert settings.mqtt_password_file
    assert settings.mqtt_base_password_file
    assert settings.mqtt_pid_file
    accounts = read_password_file(settings.mqtt_password_file)
    base = read_password_file(settings.mqtt_base_password_file)
    devices = {u: h for u, h in accounts.items() if u not in base}
    devices[user] = hash_password(password)
    write_password_file(settings.mqtt_password_file, settings.mqtt_base_password_file, devices)
    signal_reload(settings.mqtt_pid_file)
    time.sleep(0.3)


def test_device_account_cannot_publish_or_subscribe_outside_its_acl(settings: Settings) -> None:
    add_account(settings, "acl-dev-a", "pw-a")
    received: list[str] = []  # "topic payload" seen by the platform account
    subscribed = threading.Event()
    ops = _client(
        settings, settings.mqtt_ops_username, settings.mqtt_ops_password.get_secret_value(), "acl-ops"
    )
    ops.on_message = lambda _c, _u, m: received.append(f"{m.topic} {m.payload.decode()}")
    ops.on_subscribe = lambda *_a: subscribed.set()
    ops.connect(settings.mqtt_host, settings.mqtt_port)
    ops.loop_start()
    ops.subscribe("eldercare/v1/#", qos=1)
    assert subscribed.wait(5)

    dev = _client(settings, "acl-dev-a", "pw-a", "acl-dev-a")
    dev_received: list[str] = []
    dev_subscribed = threading.Event()
    dev.on_message = lambda _c, _u, m: dev_received.append(m.topic)
    dev.on_subscribe = lambda *_a: dev_subscribed.set()
    dev.connect(settings.mqtt_host, settings.mqtt_port)
    dev.loop_start()
    # Mosquitto 2 grants any subscription but delivers only what the read ACL allows.
    dev.subscribe([("eldercare/v1/devices/acl-dev-b/event", 1), ("eldercare/v1/devices/acl-dev-a/cmd", 1)])
    assert dev_subscribed.wait(5)
    ops.publish("eldercare/v1/devices/acl-dev-b/event", b"{}", qos=1).wait_for_publish(5)
    ops.publish("eldercare/v1/devices/acl-dev-a/cmd", b"{}", qos=1).wait_for_publish(5)
    dev.publish("eldercare/v1/devices/acl-dev-b/event", b"from-a", qos=1).wait_for_publish(5)
    dev.publish("eldercare/v1/gateways/acl-dev-b/z2m/x", b"from-a", qos=1).wait_for_publish(5)
    dev.publish("eldercare/v1/devices/acl-dev-a/event", b"from-a", qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while "eldercare/v1/devices/acl-dev-a/event from-a" not in received and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    for c in (dev, ops):
        c.loop_stop()
        c.disconnect()
    assert dev_received == ["eldercare/v1/devices/acl-dev-a/cmd"]  # its own cmd only, never another device's
    assert "eldercare/v1/devices/acl-dev-a/event from-a" in received  # its own topic reaches subscribers
    assert "eldercare/v1/devices/acl-dev-b/event from-a" not in received
    assert "eldercare/v1/gateways/acl-dev-b/z2m/x from-a" not in received


def _processes_under(path: Path) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ELDERCARE, *args], capture_output=True, text=True, timeout=120, check=False)


def test_cli_stack_up_twice_then_down_leaves_nothing() -> None:
    root = Path(tempfile.mkdtemp(prefix="eldercare-cli-", dir="/tmp"))
    try:
        first = _cli("stack", "up", "--dir", str(root))
        assert first.returncode == 0, first.stderr
        assert "postgresql, mosquitto" in first.stderr
        second = _cli("stack", "up", "--dir", str(root))
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stderr
        status = _cli("stack", "status", "--dir", str(root))
        assert status.returncode == 0, status.stdout
        assert "timescaledb" in status.stdout
        assert "auth on" in status.stdout
        assert len(_processes_under(root)) >= 2
    finally:
        down = _cli("stack", "down", "--dir", str(root))
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 10
    while _processes_under(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_under(root) == []
    assert _cli("stack", "status", "--dir", str(root)).returncode == 1


def test_cli_bad_input_gets_one_line_and_starts_nothing() -> None:
    unknown = _cli("stack", "up", "--bogus")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().count("\n") == 0
    assert "--bogus" in unknown.stderr

    unwritable = _cli("stack", "up", "--dir", "/proc/eldercare-nope")
    assert unwritable.returncode == 1
    assert "not writable" in unwritable.stderr
    assert unwritable.stderr.strip().count("\n") == 0

    root = Path(tempfile.mkdtemp(prefix="eldercare-port-", dir="/tmp"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = _cli("stack", "up", "--dir", str(root), "--pg-port", str(port))
    assert res.returncode == 1
    assert "already taken" in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert _processes_under(root) == []
