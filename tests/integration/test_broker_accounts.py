"""Broker accounts with the real stack: reserved names refused everywhere, a password file with each name once
while devices churn (and the platform's own account never dropped), provisioning that fails closed when the
broker does not reload, and packets above the size limit refused by the broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from devices import provisioning, registry
from devices.accounts import PLATFORM_ACCOUNTS, ReservedName
from devices.csv_import import ImportFailed, import_csv
from devices.mqtt_auth import connack, connect_packet, hash_password, read_password_file, remaining_length
from devices.types import DeviceKind, Room
from tests.support import wait_until
from web.api.app import create_app
from web.auth import users
from web.auth.principal import Role
from web.settings import Settings
from web.stack.mosquitto import MAX_PACKET_BYTES

pytestmark = [pytest.mark.db, pytest.mark.mqtt]
PASSWORD = "correct-horse-battery"
RESERVED = [*sorted(PLATFORM_ACCOUNTS), "svc-anything", "svc-ops2"]


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    """An autocommit connection: each provisioning call is its own transaction, committed or rolled back."""
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as c:
        yield c


def _station_home(conn: psycopg.Connection) -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:8]
    registry.add_station(conn, id=f"st-{tag}", name="账号站", lat=29.7, lon=106.6)
    registry.add_home(conn, id=f"h-{tag}", station_id=f"st-{tag}", address="账号路1号", lat=29.7, lon=106.6)
    return tag, f"st-{tag}", f"h-{tag}"


def _cli(stack_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args, "--dir", str(stack_dir)],
        capture_output=True, text=True, timeout=90, check=False, input=stdin,
    )  # fmt: skip


def _usernames(path: Path) -> list[str]:
    """Every username line of a password file, duplicates included (read_password_file would merge them)."""
    return [line.split(":", 1)[0] for line in path.read_text().splitlines() if ":" in line]


def _file_devices(settings: Settings) -> dict[str, str]:
    assert settings.mqtt_password_file is not None
    return {
        u: h for u, h in read_password_file(settings.mqtt_password_file).items() if not u.startswith("svc-")
    }


def _db_devices(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute(
        "SELECT id, password_hash FROM device WHERE status = 'provisioned' AND password_hash IS NOT NULL"
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def _row(conn: psycopg.Connection, device_id: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT status, password_hash, provisioned_at, revoked_at FROM device WHERE id = %s", (device_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def _login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cookie_secure=False)) as c:
        yield c


def test_reserved_names_are_refused_for_devices_gateways_and_users(
    settings: Settings, stack_dir: Path, conn: psycopg.Connection, client: TestClient
) -> None:
    tag, station, home = _station_home(conn)
    users.create_user(conn, username=f"acct-admin-{tag}", name="管理员", role=Role.ADMIN, password=PASSWORD)
    users.create_user(
        conn,
        username=f"acct-staff-{tag}",
        name="值班员",
        role=Role.STAFF,
        password=PASSWORD,
        station_ids=[station],
    )
    admin, staff = _login(client, f"acct-admin-{tag}"), _login(client, f"acct-staff-{tag}")
    for name in RESERVED:
        for kind in (DeviceKind.MOTION, DeviceKind.GATEWAY):
            with pytest.raises(ReservedName, match="reserved"):
                registry.add_device(conn, id=name, home_id=home, kind=kind, room=Room.HALLWAY)
            r = client.post(
                "/api/devices", headers=staff, json={"id": name, "home_id": home, "kind": kind.value}
            )
            assert r.status_code == 422, r.text
            assert r.json()["code"] == "reserved_name"
            assert "reserved" in r.json()["message"]
        with pytest.raises(ReservedName):
            users.create_user(conn, username=name, name="x", role=Role.ADMIN, password=PASSWORD)
        r = client.post(
            "/api/users",
            headers=admin,
            json={"username": name, "name": "x", "role": "admin", "password": PASSWORD},
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "reserved_name"
        with pytest.raises(ImportFailed) as bad_csv:
            import_csv(conn, entity="devices", text=f"id,home_id,kind\n{name},{home},gateway\n")
        assert [(e.line, e.field) for e in bad_csv.value.report.errors] == [(2, "id")]
        assert "reserved" in bad_csv.value.report.errors[0].message
    # The CLI says why and exits 1 (a few names: each call is a process).
    for name in ("svc-ops", "svc-ingest", "svc-new"):
        added = _cli(stack_dir, "devices", "add", "--id", name, "--kind", "gateway", "--home", home)
        assert added.returncode == 1, added.stdout
        assert "reserved" in added.stderr
        user = _cli(
            stack_dir, "users", "add", "--role", "admin", "--name", name, stdin="long-enough-password\n"
        )
        assert user.returncode == 1, user.stdout
        assert "reserved" in user.stderr
    # ... and an ordinary name still goes through every path.
    assert (
        _cli(stack_dir, "devices", "add", "--id", f"gw-{tag}", "--kind", "gateway", "--home", home).returncode
        == 0
    )
    taken = conn.execute("SELECT count(*) FROM device WHERE id = ANY(%s)", (RESERVED,)).fetchone()
    assert taken == (0,)
    taken = conn.execute("SELECT count(*) FROM app_user WHERE username = ANY(%s)", (RESERVED,)).fetchone()
    assert taken == (0,)


def test_a_reserved_row_that_bypassed_the_registry_never_reaches_the_password_file(
    settings: Settings, conn: psycopg.Connection
) -> None:
    assert settings.mqtt_password_file is not None
    with psycopg.connect(settings.db().conninfo()) as sneaky:  # its insert is never committed
        sneaky.execute(
            "INSERT INTO device (id, kind, status, password_hash) VALUES ('svc-ops', 'gateway', 'provisioned', %s)",
            (hash_password("stolen-password"),),
        )
        assert provisioning.sync_broker(sneaky, settings.mqtt()) >= 0
        names = _usernames(settings.mqtt_password_file)
        assert len(names) == len(set(names))
        with pytest.raises(ReservedName):
            provisioning.provision(sneaky, device_id="svc-ops", broker=settings.mqtt())
        assert connack(settings.mqtt_port, "svc-ops", "stolen-password") == 5
        ops = settings.mqtt_ops_password.get_secret_value()
        assert connack(settings.mqtt_port, settings.mqtt_ops_username, ops) == 0
        sneaky.rollback()


class Watcher:
    """A client on the platform's ingest account that records every disconnect and can prove it is alive."""

    def __init__(self, settings: Settings, tag: str) -> None:
        self.topic = f"eldercare/v1/devices/watch-{tag}/event"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"acct-watch-{tag}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(settings.mqtt_username, settings.mqtt_password.get_secret_value())
        self.connects = 0
        self.disconnects: list[str] = []
        self.received: list[bytes] = []
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.append(str(rc))
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.received.append(bytes(m.payload))
        self.client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=5)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the ingest account could not connect and subscribe"

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
        if not rc.is_failure:
            self.connects += 1
            client.subscribe(self.topic, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_churn_of_100_devices_keeps_names_unique_and_the_ingest_account_connected(
    settings: Settings, conn: psycopg.Connection
) -> None:
    assert settings.mqtt_password_file is not None
    tag, _station, home = _station_home(conn)
    ids = [f"churn-{tag}-{i:03d}" for i in range(100)]
    for device_id in ids:
        registry.add_device(conn, id=device_id, home_id=home, kind=DeviceKind.MOTION, room=Room.BEDROOM)
    watcher = Watcher(settings, tag)
    broker = settings.mqtt()
    passwords: dict[str, str] = {}
    try:
        for device_id in ids[:30]:  # one by one
            passwords[device_id] = provisioning.provision(conn, device_id=device_id, broker=broker).password
        for lo in range(30, 100, 35):  # in batches
            creds = provisioning.provision_many(conn, device_ids=ids[lo : lo + 35], broker=broker)
            passwords |= {c.device_id: c.password for c in creds}
        revoked, cut_off = ids[::3], {}
        for device_id in revoked:  # a third revoked ...
            provisioning.revoke(conn, device_id=device_id, broker=broker)
            cut_off[device_id] = passwords.pop(device_id)
        again = revoked[:10]  # ... some given new credentials, with others' replaced in the same batch
        creds = provisioning.provision_many(conn, device_ids=again + ids[1:20:3], broker=broker)
        passwords |= {c.device_id: c.password for c in creds}
        with pytest.raises(ReservedName):  # the attack of the issue, tried in the middle of it all
            registry.add_device(conn, id="svc-ingest", home_id=home, kind=DeviceKind.GATEWAY)
        with psycopg.connect(settings.db().conninfo()) as sneaky:  # and a row that went round the registry
            sneaky.execute(
                "INSERT INTO device (id, kind, status, password_hash) VALUES ('svc-ingest', 'gateway', "
                "'provisioned', %s)",
                (hash_password("taken-over"),),
            )
            provisioning.sync_broker(sneaky, broker)
            assert connack(settings.mqtt_port, "svc-ingest", "taken-over") == 5
            sneaky.rollback()
        passwords[ids[2]] = provisioning.provision(
            conn, device_id=ids[2], broker=broker
        ).password  # a later sync
        names = _usernames(settings.mqtt_password_file)
        assert len(names) == len(set(names)), "a username appears twice in the password file"
        assert _file_devices(settings) == _db_devices(conn)
        ours = {u for u in names if u.startswith(f"churn-{tag}-")}
        assert ours == set(passwords)
        assert len(ours) == 100 - len(revoked) + len(again)
        for device_id in (*again[:3], *ids[1:8]):  # current credentials work (the replaced ones too) ...
            assert connack(settings.mqtt_port, device_id, passwords[device_id]) == 0
        for device_id in revoked[10:14]:  # ... and revoked accounts are refused with their real password
            assert connack(settings.mqtt_port, device_id, cut_off[device_id]) == 5
        # The ingest account never lost its connection, and the connection still carries messages.
        ops = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"acct-ops-{tag}")
        ops.username_pw_set(settings.mqtt_ops_username, settings.mqtt_ops_password.get_secret_value())
        ops.connect(settings.mqtt_host, settings.mqtt_port)
        ops.loop_start()
        ops.publish(watcher.topic, b"still-here", qos=1).wait_for_publish(10)
        ops.disconnect()
        ops.loop_stop()
        assert wait_until(lambda: b"still-here" in watcher.received, 10)
        assert watcher.disconnects == []
        assert watcher.connects == 1
    finally:
        watcher.close()


def _pid(settings: Settings) -> int:
    assert settings.mqtt_pid_file is not None
    return int(settings.mqtt_pid_file.read_text().split()[0])


class Frozen:
    """The core broker stopped (SIGSTOP) for the duration: it cannot reload, answer or disconnect anyone."""

    def __init__(self, settings: Settings) -> None:
        self.pid = _pid(settings)

    def __enter__(self) -> Frozen:
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *_exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


def test_provisioning_fails_closed_when_the_broker_does_not_reload(
    settings: Settings, conn: psycopg.Connection
) -> None:
    tag, _station, home = _station_home(conn)
    kept, gone, fresh = f"fc-kept-{tag}", f"fc-gone-{tag}", f"fc-new-{tag}"
    for device_id in (kept, gone, fresh):
        registry.add_device(conn, id=device_id, home_id=home, kind=DeviceKind.SOS_BUTTON, room=Room.BEDROOM)
    broker = settings.mqtt()
    kept_pw = provisioning.provision(conn, device_id=kept, broker=broker).password
    gone_pw = provisioning.provision(conn, device_id=gone, broker=broker).password
    before = {d: _row(conn, d) for d in (kept, gone, fresh)}
    began = time.monotonic()
    with Frozen(settings):
        with pytest.raises(provisioning.BrokerUnavailable, match="did not take"):
            provisioning.provision(conn, device_id=kept, broker=broker, reload_timeout_s=1.0)
        with pytest.raises(provisioning.BrokerUnavailable):
            provisioning.revoke(conn, device_id=gone, broker=broker, reload_timeout_s=1.0)
        with pytest.raises(provisioning.BrokerUnavailable):
            provisioning.provision_many(conn, device_ids=[fresh], broker=broker, reload_timeout_s=1.0)
        # Nothing committed, and the file was put back while the broker was still stopped.
        assert {d: _row(conn, d) for d in (kept, gone, fresh)} == before
        assert _file_devices(settings) == _db_devices(conn)
    assert time.monotonic() - began < 10
    # Resumed, the broker reads the restored file: the old credentials work, nothing half-done is left.
    assert wait_until(lambda: connack(settings.mqtt_port, kept, kept_pw) == 0, 10)
    assert connack(settings.mqtt_port, gone, gone_pw) == 0
    assert _file_devices(settings) == _db_devices(conn)
    assert _row(conn, fresh)[0] == "registered"
    # And once the broker is back, the same calls succeed.
    provisioning.revoke(conn, device_id=gone, broker=broker)
    assert connack(settings.mqtt_port, gone, gone_pw) == 5
    assert _row(conn, gone)[0] == "revoked"


def test_api_answers_503_and_the_cli_exits_non_zero_when_the_broker_is_stuck(
    settings: Settings, stack_dir: Path, conn: psycopg.Connection, client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    tag, station, home = _station_home(conn)
    device_id = f"fc-api-{tag}"
    registry.add_device(conn, id=device_id, home_id=home, kind=DeviceKind.GATEWAY, room=Room.HALLWAY)
    users.create_user(
        conn,
        username=f"fc-staff-{tag}",
        name="值班员",
        role=Role.STAFF,
        password=PASSWORD,
        station_ids=[station],
    )
    staff = _login(client, f"fc-staff-{tag}")
    before = _row(conn, device_id)
    monkeypatch.setattr(provisioning, "RELOAD_TIMEOUT_S", 1.0)  # the API process is this one
    with Frozen(settings):
        r = client.post(f"/api/devices/{device_id}/provision", headers=staff)
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "broker_unavailable"
        assert r.headers["retry-after"] == "5"
        assert "password" not in r.json()
        assert _row(conn, device_id) == before
        cli = _cli(stack_dir, "devices", "provision", device_id)  # its own process: the default timeout
        assert cli.returncode == 1
        assert "did not take" in cli.stderr
        assert cli.stdout == ""  # no credentials printed
        assert _row(conn, device_id) == before
    assert wait_until(lambda: connack(settings.mqtt_port, "svc-x", "x") == 5, 10)  # answering again
    r = client.post(f"/api/devices/{device_id}/provision", headers=staff)
    assert r.status_code == 200, r.text
    assert connack(settings.mqtt_port, device_id, r.json()["password"]) == 0
    assert _file_devices(settings) == _db_devices(conn)


def _publish_raw(port: int, username: str, password: str, topic: str, payload: bytes) -> bool:
    """Publish at QoS 0 over a bare socket (no client library to refuse it first); True when the broker
    kept the connection open afterwards, False when it dropped it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(connect_packet(username, password))
        assert s.recv(4)[3:4] == b"\x00"
        body = len(topic).to_bytes(2, "big") + topic.encode() + payload
        try:
            s.sendall(bytes([0x30]) + remaining_length(len(body)) + body + bytes([0xC0, 0]))  # + PINGREQ
            reply = s.recv(2)
        except (ConnectionError, TimeoutError):
            return False
        return reply == bytes([0xD0, 0])  # PINGRESP: still connected


def test_the_broker_refuses_packets_above_the_size_limit(
    settings: Settings, conn: psycopg.Connection
) -> None:
    tag, _station, home = _station_home(conn)
    device_id = f"big-{tag}"
    registry.add_device(conn, id=device_id, home_id=home, kind=DeviceKind.MOTION, room=Room.BEDROOM)
    password = provisioning.provision(conn, device_id=device_id, broker=settings.mqtt()).password
    topic = f"eldercare/v1/devices/{device_id}/event"
    got: list[int] = []
    subscribed = threading.Event()
    ops = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"big-ops-{tag}")
    ops.username_pw_set(settings.mqtt_ops_username, settings.mqtt_ops_password.get_secret_value())
    ops.on_message = lambda _c, _u, m: got.append(len(m.payload))
    ops.on_subscribe = lambda *_a: subscribed.set()
    ops.connect(settings.mqtt_host, settings.mqtt_port)
    ops.loop_start()
    try:
        ops.subscribe(topic, qos=0)
        assert subscribed.wait(10)
        fits = MAX_PACKET_BYTES - 1024
        assert _publish_raw(settings.mqtt_port, device_id, password, topic, b"x" * fits)
        assert wait_until(lambda: got == [fits], 10)
        assert not _publish_raw(settings.mqtt_port, device_id, password, topic, b"y" * MAX_PACKET_BYTES)
        time.sleep(1)
        assert got == [fits]  # the oversized one was never delivered
        assert _publish_raw(settings.mqtt_port, device_id, password, topic, json.dumps({"ok": 1}).encode())
        assert wait_until(lambda: len(got) == 2, 10)  # the device may reconnect and go on
    finally:
        ops.disconnect()
        ops.loop_stop()
