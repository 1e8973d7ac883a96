"""Ingest against the real broker and database: formats, dead letters, duplicates, crashes and restarts."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from devices import provisioning
from tests.support import (
    DevicePublisher,
    IngestProcess,
    TestHome,
    count,
    make_home,
    native_payload,
    wait_until,
)
from web.settings import Settings
from web.stack import mosquitto, postgres
from web.stack.mosquitto import MqttPaths
from web.stack.postgres import PgPaths
from web.stack.proc import run_as_user, stop_pid

pytestmark = [pytest.mark.db, pytest.mark.mqtt]


def _ingest(stack_dir: Path, tmp_path: Path, name: str, *, shared: bool = True) -> IngestProcess:
    group = f"t{uuid.uuid4().hex[:6]}"
    return IngestProcess(
        stack_dir,
        f"{name}-{group}",
        tmp_path / f"{name}.log",
        "--shared-group",
        group if shared else "",
        "--session-expiry-s",
        "600",
    )


def _stored(conn: psycopg.Connection, device_id: str) -> int:
    return count(conn, "SELECT count(*) FROM reading WHERE device_id = %s", device_id)


def _dups(conn: psycopg.Connection, device_id: str) -> int:
    return count(
        conn,
        "SELECT count(*) FROM (SELECT seq FROM reading WHERE device_id = %s GROUP BY time, seq HAVING count(*) > 1) d",
        device_id,
    )


@pytest.fixture
def home(db: psycopg.Connection, settings: Settings) -> TestHome:
    h = make_home(db, settings)
    db.commit()
    return h


def test_mosquitto_pub_native_and_zigbee2mqtt_payloads_are_stored(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, home: TestHome, tmp_path: Path
) -> None:
    ingest = _ingest(stack_dir, tmp_path, "pub")
    base = ["mosquitto_pub", "-h", settings.mqtt_host, "-p", str(settings.mqtt_port), "-q", "1"]
    ts = datetime.now(UTC).replace(microsecond=0)
    native = native_payload(7, ts=ts, occupancy=True, battery=91)
    z2m = json.dumps(
        {"contact": False, "battery": 80, "linkquality": 120, "voltage": 2900, "vendor_x": "kept"}
    )
    subprocess.run(
        [*base, "-u", home.native, "-P", home.passwords[home.native], "-t",
         f"eldercare/v1/devices/{home.native}/event", "-m", native.decode()], check=True, timeout=10,
    )  # fmt: skip
    subprocess.run(
        [*base, "-u", home.gateway, "-P", home.passwords[home.gateway], "-t",
         f"eldercare/v1/gateways/{home.gateway}/z2m/front_door", "-m", z2m], check=True, timeout=10,
    )  # fmt: skip
    assert wait_until(lambda: _stored(db, home.native) == 1 and _stored(db, home.door) == 1, 15), ingest.log()
    assert ingest.stop() == 0
    row = db.execute(
        "SELECT time, seq, kind, home_id, room, data FROM reading WHERE device_id = %s", (home.native,)
    ).fetchone()
    assert row is not None
    assert row[0] == ts
    assert row[1:5] == (7, "motion", home.home_id, "bathroom")
    assert row[5]["occupancy"] is True
    assert row[5]["battery"] == 91
    door = db.execute("SELECT kind, room, data FROM reading WHERE device_id = %s", (home.door,)).fetchone()
    assert door is not None
    assert door[:2] == ("door", "entrance")
    assert door[2]["contact"] is False
    assert door[2]["battery"] == 80
    assert door[2]["vendor_x"] == "kept"  # unknown extra fields are kept
    health = db.execute(
        "SELECT battery, last_seen FROM device_health WHERE device_id = %s", (home.native,)
    ).fetchone()
    assert health is not None
    assert health[0] == 91
    assert health[1] is not None


def _bad_payloads(now: datetime) -> list[tuple[bytes, str]]:
    return [
        (b"{not json", "json"),
        (json.dumps({"seq": 1, "kind": "motion", "values": {}}).encode(), "ts"),
        (native_payload(900001, battery=140), "battery"),
        (native_payload(900002, ts=now + timedelta(days=2)), "skew"),
        (native_payload(900003, ts=now - timedelta(days=60)), "skew"),
    ]


def test_malformed_and_repeated_messages_stored_once_or_dead_lettered(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, home: TestHome, tmp_path: Path
) -> None:
    ingest = _ingest(stack_dir, tmp_path, "dup")
    pub = DevicePublisher(settings, home.native, home.passwords[home.native])
    topic = f"eldercare/v1/devices/{home.native}/event"
    now = datetime.now(UTC)
    good = [native_payload(i, ts=now - timedelta(seconds=i)) for i in range(1, 181)]
    bad = [p for p, _ in _bad_payloads(now)] * 4  # 20 malformed among 200 (10%)
    bad = [p[:-1] + b" " * i + p[-1:] if p.startswith(b'{"') else p + b" " * i for i, p in enumerate(bad)]
    messages = good[:90] + bad[:10] + good[90:] + bad[10:]
    for payload in messages + messages:  # every message published twice
        pub.publish(topic, payload, wait=False)
    pub.close()
    distinct_bad = len(set(bad))
    assert wait_until(lambda: _stored(db, home.native) >= 180, 30), ingest.log()
    assert wait_until(
        lambda: (
            count(db, "SELECT count(*) FROM dead_letter WHERE device_id = %s", home.native) >= distinct_bad
        ),
        15,
    )
    time.sleep(1)
    assert ingest.stop() == 0
    assert _stored(db, home.native) == 180
    assert _dups(db, home.native) == 0
    reasons = [
        r[0] for r in db.execute("SELECT reason FROM dead_letter WHERE device_id = %s", (home.native,))
    ]
    assert len(reasons) == distinct_bad  # stored + dead-lettered = distinct published
    joined = " ".join(reasons)
    for needle in ("json", "ts", "battery", "skew"):
        assert needle in joined, reasons
    raw = db.execute(
        "SELECT payload, topic FROM dead_letter WHERE device_id = %s LIMIT 1", (home.native,)
    ).fetchone()
    assert raw is not None
    assert raw[1] == topic
    assert bytes(raw[0]) in set(bad)


def test_unknown_device_and_foreign_topic(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, home: TestHome, tmp_path: Path
) -> None:
    ingest = _ingest(stack_dir, tmp_path, "unknown")
    ghost = f"ghost-{uuid.uuid4().hex[:6]}"
    ops = DevicePublisher(
        settings, settings.mqtt_ops_username, settings.mqtt_ops_password.get_secret_value(), client_id="t-ops"
    )
    ops.publish(f"eldercare/v1/devices/{ghost}/event", native_payload(1))
    # A device publishing under another device's topic is stopped by the broker's ACL: nothing arrives.
    dev = DevicePublisher(settings, home.native, home.passwords[home.native], client_id="t-foreign")
    dev.publish(f"eldercare/v1/devices/{home.gateway}/event", native_payload(1))
    dev.publish(f"eldercare/v1/gateways/{home.gateway}/z2m/front_door", b'{"contact": true}')
    dev.publish(f"eldercare/v1/devices/{home.native}/event", native_payload(2))
    for c in (ops, dev):
        c.close()
    assert wait_until(
        lambda: count(db, "SELECT count(*) FROM dead_letter WHERE device_id = %s", ghost) == 1, 15
    )
    assert wait_until(lambda: _stored(db, home.native) == 1, 15)
    time.sleep(0.5)
    assert ingest.stop() == 0
    reason = db.execute("SELECT reason FROM dead_letter WHERE device_id = %s", (ghost,)).fetchone()
    assert reason is not None
    assert reason[0].startswith("unknown device")
    assert _stored(db, home.gateway) == 0
    assert _stored(db, home.door) == 0


def _publish_in_background(
    pub: DevicePublisher, topic: str, n: int, *, pace_s: float = 0.0
) -> threading.Thread:
    now = datetime.now(UTC)

    def work() -> None:
        for i in range(1, n + 1):
            pub.publish(topic, native_payload(i, ts=now - timedelta(milliseconds=n - i)), wait=False)
            if pace_s:
                time.sleep(pace_s)

    t = threading.Thread(target=work)
    t.start()
    return t


def test_sigkill_then_restart_loses_nothing(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, home: TestHome, tmp_path: Path
) -> None:
    group = f"k{uuid.uuid4().hex[:6]}"
    args = ("--shared-group", group, "--session-expiry-s", "600")
    ingest = IngestProcess(stack_dir, f"kill-{group}", tmp_path / "kill.log", *args)
    pub = DevicePublisher(settings, home.native, home.passwords[home.native])
    n = 6000
    t = _publish_in_background(pub, f"eldercare/v1/devices/{home.native}/event", n, pace_s=0.0003)
    assert wait_until(lambda: _stored(db, home.native) > 500, 30)
    ingest.proc.send_signal(signal.SIGKILL)
    ingest.proc.wait(10)
    killed_at = _stored(db, home.native)
    t.join(60)
    pub.close()
    assert killed_at < n  # it really died mid-stream
    again = IngestProcess(stack_dir, f"kill-{group}", tmp_path / "kill2.log", *args)
    assert wait_until(lambda: _stored(db, home.native) >= n, 60), again.log()
    time.sleep(0.5)
    assert again.stop() == 0
    assert _stored(db, home.native) == n
    assert _dups(db, home.native) == 0


def test_sigterm_flushes_and_exits_cleanly(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, home: TestHome, tmp_path: Path
) -> None:
    group = f"s{uuid.uuid4().hex[:6]}"
    args = ("--shared-group", group, "--session-expiry-s", "600")
    ingest = IngestProcess(stack_dir, f"term-{group}", tmp_path / "term.log", *args)
    pub = DevicePublisher(settings, home.native, home.passwords[home.native])
    t = _publish_in_background(pub, f"eldercare/v1/devices/{home.native}/event", 3000)
    t.join(60)
    pub.close()
    assert ingest.stop(signal.SIGTERM) == 0
    assert "stopped:" in ingest.log()
    again = IngestProcess(stack_dir, f"term-{group}", tmp_path / "term2.log", *args)
    assert wait_until(lambda: _stored(db, home.native) >= 3000, 30)
    time.sleep(0.3)
    assert again.stop() == 0
    assert _stored(db, home.native) == 3000


def test_broker_restart_midstream(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, home: TestHome, tmp_path: Path
) -> None:
    ingest = _ingest(stack_dir, tmp_path, "broker", shared=False)
    pub = DevicePublisher(settings, home.native, home.passwords[home.native])
    n = 4000
    t = _publish_in_background(pub, f"eldercare/v1/devices/{home.native}/event", n, pace_s=0.0005)
    assert wait_until(lambda: _stored(db, home.native) > 300, 30)
    mq = MqttPaths(stack_dir / "mqtt")
    pid = mosquitto.running_pid(mq)
    assert pid is not None
    stop_pid(pid)
    time.sleep(1.0)
    mosquitto.start(mq, port=settings.mqtt_port, user=run_as_user())
    t.join(120)
    assert wait_until(lambda: pub.connected.is_set(), 20)
    assert wait_until(lambda: _stored(db, home.native) >= n, 60), (pub.acked, ingest.log())
    pub.close()
    time.sleep(0.5)
    assert ingest.stop() == 0
    assert _stored(db, home.native) == n
    assert _dups(db, home.native) == 0


def test_database_restart_midstream_spools_and_replays(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, home: TestHome, tmp_path: Path
) -> None:
    ingest = _ingest(stack_dir, tmp_path, "dbdown")
    pub = DevicePublisher(settings, home.native, home.passwords[home.native])
    n = 4000
    t = _publish_in_background(pub, f"eldercare/v1/devices/{home.native}/event", n, pace_s=0.0005)
    assert wait_until(lambda: _stored(db, home.native) > 300, 30)
    db.close()
    pg = PgPaths(stack_dir / "pg")
    postgres.stop(pg, user=run_as_user())
    time.sleep(2.5)
    postgres.start(pg, user=run_as_user())
    t.join(120)
    pub.close()
    with psycopg.connect(settings.db().conninfo()) as conn:
        assert wait_until(lambda: _stored(conn, home.native) >= n, 90), ingest.log()
        time.sleep(0.5)
        assert ingest.stop() == 0
        assert _stored(conn, home.native) == n
        assert _dups(conn, home.native) == 0
    final = re.search(r"stopped: .* spooled=(\d+) replayed=(\d+)", ingest.log())
    assert final is not None, ingest.log()
    assert int(final.group(1)) > 0  # the outage really happened while messages were arriving
    assert int(final.group(2)) == int(final.group(1))  # and everything spooled was written back


def test_revoked_device_is_cut_off_at_once(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, home: TestHome, tmp_path: Path
) -> None:
    ingest = _ingest(stack_dir, tmp_path, "revoke")
    pub = DevicePublisher(settings, home.native, home.passwords[home.native], client_id="t-revoke")
    topic = f"eldercare/v1/devices/{home.native}/event"
    pub.publish(topic, native_payload(1))
    assert wait_until(lambda: _stored(db, home.native) == 1, 15)
    pub.disconnected.clear()
    provisioning.revoke(db, device_id=home.native, broker=settings.mqtt())
    assert pub.disconnected.wait(5)  # the broker dropped the live connection
    time.sleep(1.5)  # paho keeps trying to reconnect; the broker refuses it
    assert not pub.connected.is_set()
    pub.publish(topic, native_payload(2), wait=False)
    time.sleep(1.5)
    pub.close(timeout=0)
    assert ingest.stop() == 0
    assert _stored(db, home.native) == 1


def test_a_batch_of_statuses_keeps_each_devices_last_one(db: psycopg.Connection) -> None:
    """Statuses are written in one statement per batch: a device reported twice in a batch (offline, then
    online again) ends with the last report and the latest time; other devices get theirs."""
    from monitor.ingest.pipeline import StatusRow
    from monitor.ingest.store import write_batch

    tag = uuid.uuid4().hex[:8]
    flappy, steady = f"sa-{tag}", f"sb-{tag}"
    t0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    rows = [
        StatusRow(flappy, "online", t0),
        StatusRow(steady, "offline", t0 + timedelta(seconds=1)),
        StatusRow(flappy, "offline", t0 + timedelta(seconds=5)),
        StatusRow(flappy, "online", t0 + timedelta(seconds=9)),
    ]
    write_batch(db, readings=[], dead=[], statuses=rows)
    got = {
        r[0]: (r[1], r[2], r[3])
        for r in db.execute(
            "SELECT device_id, reported_status, reported_status_at, last_seen FROM device_health "
            "WHERE device_id = ANY(%s)",
            ([flappy, steady],),
        ).fetchall()
    }
    assert got[flappy] == ("online", t0 + timedelta(seconds=9), t0 + timedelta(seconds=9))
    assert got[steady] == ("offline", t0 + timedelta(seconds=1), t0 + timedelta(seconds=1))
    write_batch(db, readings=[], dead=[], statuses=[StatusRow(flappy, "offline", t0 + timedelta(seconds=2))])
    row = db.execute(
        "SELECT reported_status, last_seen FROM device_health WHERE device_id = %s", (flappy,)
    ).fetchone()
    assert row == (
        "offline",
        t0 + timedelta(seconds=9),
    )  # a late report is the status; last seen never goes back


def _status(settings: Settings, home: TestHome, payload: str) -> None:
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(settings.mqtt_port), "-u", home.native, "-P",
         home.passwords[home.native], "-t", f"eldercare/v1/devices/{home.native}/status", "-m", payload,
         "-q", "1", "-r"],
        check=True, timeout=10,
    )  # fmt: skip


def _statuses(log: str) -> int:
    found = re.findall(r"stopped: .*?statuses=(\d+)", log)
    assert found, log
    return int(found[-1])


def test_a_reconnecting_worker_gets_the_statuses_it_missed_but_not_every_retained_one_again(
    settings: Settings, stack_dir: Path, home: TestHome, tmp_path: Path
) -> None:
    """Every device keeps a retained online/offline status: resending all of them on each reconnect
    (millions at 20,000 homes) buried the readings; the persistent session already holds the changes."""
    name = f"ret-{uuid.uuid4().hex[:6]}"
    args = ("--shared-group", "", "--session-expiry-s", "600")
    first = IngestProcess(stack_dir, name, tmp_path / "first.log", *args)
    _status(settings, home, "online")
    time.sleep(1.5)
    assert first.stop() == 0
    assert _statuses(first.log()) >= 1  # a new subscription gets the retained statuses
    _status(settings, home, "offline")  # while the worker is away: queued in its session
    again = IngestProcess(stack_dir, name, tmp_path / "again.log", *args)
    time.sleep(2.0)
    assert again.stop() == 0
    assert "session present: True" in again.log()
    assert _statuses(again.log()) == 1
