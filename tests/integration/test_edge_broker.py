"""Edge brokers bridged to the core: devices authenticate and are confined at the edge, readings reach ingest."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices import provisioning, registry
from devices.mqtt_auth import signal_reload
from simulators.load import plan_processes, sockets_per_process
from tests.support import (
    DevicePublisher,
    IngestProcess,
    TestHome,
    count,
    make_home,
    native_payload,
    wait_until,
)
from web import stack
from web.settings import Settings
from web.stack import mosquitto
from web.stack.edge import Edge
from web.stack.edge import health as edge_health
from web.stack.mosquitto import MqttPaths
from web.stack.proc import run_as_user, stop_pid
from web.stack.stack import edge_brokers

pytestmark = [pytest.mark.db, pytest.mark.mqtt]


@pytest.fixture
def edge(stack_dir: Path) -> Iterator[Edge]:
    """The session stack with (at least) one edge broker; the stack's own count is restored afterwards."""
    before = len(edge_brokers(stack_dir))
    info = stack.up(stack_dir, edge_brokers=max(before, 1))
    assert info.healthy, info.edges
    yield edge_brokers(stack_dir)[0]
    stack.up(stack_dir, edge_brokers=before)


@pytest.fixture
def home(db: psycopg.Connection, settings: Settings) -> TestHome:
    h = make_home(db, settings)
    db.commit()
    return h


def _at(settings: Settings, e: Edge) -> Settings:
    return settings.model_copy(update={"mqtt_port": e.port})


def _ingest(stack_dir: Path, tmp_path: Path) -> IngestProcess:
    group = f"e{uuid.uuid4().hex[:6]}"
    return IngestProcess(stack_dir, f"edge-{group}", tmp_path / "ingest.log", "--shared-group", group,
                         "--session-expiry-s", "600")  # fmt: skip


def _stored(conn: psycopg.Connection, device_id: str) -> int:
    return count(conn, "SELECT count(*) FROM reading WHERE device_id = %s", device_id)


def test_readings_published_at_the_edge_are_stored_by_ingest_on_the_core(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, home: TestHome, edge: Edge, tmp_path: Path
) -> None:
    ingest = _ingest(stack_dir, tmp_path)
    native = DevicePublisher(_at(settings, edge), home.native, home.passwords[home.native])
    gateway = DevicePublisher(_at(settings, edge), home.gateway, home.passwords[home.gateway])
    for seq in range(1, 4):
        native.publish(f"eldercare/v1/devices/{home.native}/event", native_payload(seq))
    gateway.publish(
        f"eldercare/v1/gateways/{home.gateway}/z2m/front_door", json.dumps({"contact": False}).encode()
    )
    assert wait_until(lambda: _stored(db, home.native) == 3 and _stored(db, home.door) == 1, 20), ingest.log()
    native.close()
    gateway.close()
    assert ingest.stop() == 0


def test_edge_refuses_wrong_password_and_other_devices_topics(
    settings: Settings, home: TestHome, edge: Edge
) -> None:
    assert mosquitto.connack(edge.port, home.native, home.passwords[home.native]) == 0
    assert mosquitto.connack(edge.port, home.native, "wrong-" + uuid.uuid4().hex) == 5
    assert mosquitto.connack(edge.port, None, None) == 5
    seen: list[str] = []
    subscribed = threading.Event()
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}")
    watcher.username_pw_set(settings.mqtt_ops_username, settings.mqtt_ops_password.get_secret_value())
    watcher.on_subscribe = lambda *_a: subscribed.set()
    watcher.on_message = lambda _c, _u, msg: seen.append(msg.topic)
    watcher.connect(settings.mqtt_host, settings.mqtt_port)  # at the core
    watcher.subscribe("eldercare/v1/devices/+/event", qos=1)
    watcher.loop_start()
    try:
        assert subscribed.wait(5)
        pub = DevicePublisher(_at(settings, edge), home.native, home.passwords[home.native])
        pub.publish(f"eldercare/v1/devices/{home.gateway}/event", native_payload(1))  # someone else's topic
        pub.publish(f"eldercare/v1/devices/{home.native}/event", native_payload(2))  # its own
        assert wait_until(lambda: f"eldercare/v1/devices/{home.native}/event" in seen, 10)
        pub.close()
    finally:
        watcher.loop_stop()
        watcher.disconnect()
    # Both went over the same connection and the bridge keeps order: had the first passed, it came first.
    assert seen == [f"eldercare/v1/devices/{home.native}/event"]


def test_revoking_a_device_cuts_it_off_at_the_edge_too(
    settings: Settings, db: psycopg.Connection, home: TestHome, edge: Edge
) -> None:
    assert mosquitto.connack(edge.port, home.native, home.passwords[home.native]) == 0
    provisioning.revoke(db, device_id=home.native, broker=settings.mqtt())
    assert wait_until(lambda: mosquitto.connack(edge.port, home.native, home.passwords[home.native]) == 5, 3)


def test_edge_health_reports_a_bridge_that_is_connected_but_forwards_nothing(
    settings: Settings, stack_dir: Path, edge: Edge
) -> None:
    """The core drops what the bridge publishes (its rules no longer let it write): the bridge stays
    connected, so only a probe that goes the readings' way can tell."""
    core = MqttPaths(stack_dir / "mqtt")
    user, password = settings.mqtt_ops_username, settings.mqtt_ops_password.get_secret_value()

    def health() -> str:
        return edge_health(edge, core_port=settings.mqtt_port, ops_user=user, ops_password=password)

    assert health().startswith("ok"), health()
    rules = core.acl.read_text()
    core.acl.write_text(rules.replace("user svc-bridge", "user svc-bridge-was"))
    try:
        signal_reload(core.pid)
        assert wait_until(lambda: health().startswith("error: a QoS 1 probe"), 20)
    finally:
        core.acl.write_text(rules)
        signal_reload(core.pid)
    assert wait_until(lambda: health().startswith("ok"), 20), health()


def test_readings_queued_at_the_edge_while_the_core_restarts_are_not_lost(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, home: TestHome, edge: Edge, tmp_path: Path
) -> None:
    ingest = _ingest(stack_dir, tmp_path)
    pub = DevicePublisher(_at(settings, edge), home.native, home.passwords[home.native])
    topic = f"eldercare/v1/devices/{home.native}/event"
    pub.publish(topic, native_payload(0))
    assert wait_until(lambda: _stored(db, home.native) == 1, 15), ingest.log()
    core = MqttPaths(stack_dir / "mqtt")
    pid = mosquitto.running_pid(core)
    assert pid is not None
    stop_pid(pid)
    for seq in range(1, 51):  # the edge acknowledges these while the core is down
        pub.publish(topic, native_payload(seq))
    assert pub.acked == 51
    time.sleep(0.5)
    mosquitto.start(core, port=settings.mqtt_port, user=run_as_user())
    assert wait_until(lambda: _stored(db, home.native) == 51, 30), ingest.log()
    pub.close()
    assert ingest.stop() == 0


def test_simulate_spreads_homes_over_the_edges_and_ingest_stores_every_reading(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, edge: Edge, tmp_path: Path
) -> None:
    station = f"st-edge-{uuid.uuid4().hex[:6]}"
    registry.add_station(db, id=station, name="边缘站", lat=29.72, lon=106.63)
    db.commit()
    ingest = _ingest(stack_dir, tmp_path)
    args = [
        sys.executable,
        "-m",
        "web.cli",
        "simulate",
        "--dir",
        str(stack_dir),
        "--provision",
        "--station",
        station,
    ]
    args += [
        "--homes",
        "4",
        "--mix",
        "gateway",
        "--brokers",
        "edges",
        "--speed",
        "600",
        "--seconds",
        "5",
        "--json",
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    homes = [r[0] for r in db.execute("SELECT id FROM home WHERE station_id = %s", (station,)).fetchall()]
    accounts = count(db, "SELECT count(*) FROM device WHERE home_id = ANY(%s) AND gateway_id IS NULL", homes)
    by_name = {b["name"]: b for b in record["brokers"]}
    edges = edge_brokers(stack_dir)
    assert record["connections"] == accounts
    assert sum(by_name[e.name]["connections"] for e in edges) == accounts  # all at the edges ...
    assert by_name["core"]["connections"] == 0  # ... none at the core, whose CPU is reported too
    assert record["processes"] % len(edges) == 0 or record["processes"] == 4  # at most one per home
    assert 0 < record["max_sockets_per_process"] <= 18_000
    total = record["messages_published"]
    assert total > 20
    stored = "SELECT count(*) FROM reading WHERE home_id = ANY(%s)"
    assert wait_until(lambda: count(db, stored, homes) >= total, 30), ingest.log()
    assert count(db, stored, homes) == total
    assert ingest.stop() == 0


def test_process_plan_keeps_every_worker_under_the_socket_limit_and_brokers_even() -> None:
    accounts = [12] * 15_000 + [5] * 5_000  # neighbourhood homes, then gateway homes
    n = plan_processes(accounts, wanted=4, brokers=6)
    per = sockets_per_process(accounts, n)
    assert n % 6 == 0
    assert max(per) <= 18_000 < max(sockets_per_process(accounts, n - 6))  # the fewest that fit
    assert sum(per) == sum(accounts)
    assert plan_processes([12] * 3, wanted=1, brokers=6) == 3  # never more workers than homes
