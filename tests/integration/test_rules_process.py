"""`eldercare rules` as a real process: SOS over MQTT → committed alert → NOTIFY; timers and escalation
survive a kill -9; bad messages do not stop it."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import psycopg
import pytest

from devices import provisioning, registry, topics
from devices.types import DeviceKind, Room
from monitor.alerts import escalation
from monitor.runner.partition import Partition
from tests.support import CliProcess, DevicePublisher, TestHome, count, make_home, wait_until
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.slow]


def payload(seq: int, kind: str, ts: datetime | None = None, **values: object) -> bytes:
    stamp = (ts or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    return json.dumps({"ts": stamp, "seq": seq, "kind": kind, "values": values}).encode()


def add_device(
    conn: psycopg.Connection, settings: Settings, home: TestHome, kind: DeviceKind, room: Room
) -> str:
    device_id = f"{kind.value[:4]}-{uuid.uuid4().hex[:8]}"
    registry.add_device(conn, id=device_id, home_id=home.home_id, kind=kind, room=room)
    home.passwords[device_id] = provisioning.provision(
        conn, device_id=device_id, broker=settings.mqtt()
    ).password
    return device_id


def rules(stack_dir: Path, tmp_path: Path, worker: str, *extra: str) -> CliProcess:
    args = ["rules", "--dir", str(stack_dir), "--worker-id", worker, "--tick-s", "0.5", *extra]
    return CliProcess(args, tmp_path / f"rules-{worker}.log", "rules ready")


def alerts(conn: psycopg.Connection, home_id: str) -> list[tuple[int, str, str, str, int]]:
    rows = conn.execute(
        "SELECT id, kind, severity, status, occurrences FROM alert WHERE home_id = %s ORDER BY id", (home_id,)
    ).fetchall()
    conn.commit()
    return [tuple(r) for r in rows]


def test_sos_press_becomes_a_committed_alert_with_a_notify(
    db: psycopg.Connection, settings: Settings, stack_dir: Path, tmp_path: Path
) -> None:
    home = make_home(db, settings)
    sos = add_device(db, settings, home, DeviceKind.SOS_BUTTON, Room.BEDROOM)
    db.commit()
    proc = rules(stack_dir, tmp_path, uuid.uuid4().hex[:8])
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as listener:
        listener.execute("LISTEN live")
        pub = DevicePublisher(settings, sos, home.passwords[sos])
        pub.publish(topics.device_event(sos), b"{not json")  # a bad message must not stop the rules
        pub.publish(topics.device_event(sos), payload(1, "sos_button", action="sos"))
        assert wait_until(lambda: len(alerts(db, home.home_id)) == 1, 20), proc.log()
        ids = [int(n.payload) for n in listener.notifies(timeout=5, stop_after=1)]
        assert ids, "no NOTIFY for the alert"
        row = db.execute("SELECT topic, subject_id FROM live_event WHERE id = %s", (ids[0],)).fetchone()
        alert_id, kind, severity, status, _ = alerts(db, home.home_id)[0]
        assert row == ("alert", str(alert_id))
        assert (kind, severity, status) == ("sos", "critical", "open")
        pub.publish(topics.device_event(sos), payload(2, "sos_button", action="sos"))
        assert wait_until(lambda: alerts(db, home.home_id)[0][4] == 2, 20), proc.log()
        assert len(alerts(db, home.home_id)) == 1  # the same alert, with more evidence
        pub.close()
    # The first escalation step (station staff, log channel) is written and sent by the next tick.
    sent = "SELECT count(*) FROM notification WHERE alert_id = %s AND step = 0 AND status = 'sent'"
    assert wait_until(lambda: count(db, sent, alert_id) >= 1, 20), proc.log()
    assert proc.stop() == 0


def test_timers_and_escalation_survive_kill_9(
    db: psycopg.Connection, settings: Settings, stack_dir: Path, tmp_path: Path
) -> None:
    home = make_home(db, settings)
    thermo = add_device(db, settings, home, DeviceKind.TEMPERATURE, Room.LIVING_ROOM)
    station = db.execute("SELECT station_id FROM home WHERE id = %s", (home.home_id,)).fetchone()
    assert station is not None
    escalation.save_policy(db, station[0], [
        {"after_min": 0, "target": "staff"},
        {"after_min": 0.1, "target": "manager", "recipients": ["站长"]},
    ], actor="test")  # fmt: skip
    db.commit()
    worker = uuid.uuid4().hex[:8]
    proc = rules(stack_dir, tmp_path, worker, "--clock", "data")
    motion = DevicePublisher(settings, home.native, home.passwords[home.native])
    three_hours_ago = datetime.now(UTC) - timedelta(hours=3)
    motion.publish(topics.device_event(home.native), payload(1, "motion", three_hours_ago, occupancy=True))
    motion.close()
    saved = "SELECT count(*) FROM rule_state WHERE home_id = %s AND state->>'last_activity_at' IS NOT NULL"
    assert wait_until(lambda: count(db, saved, home.home_id) == 1, 20), proc.log()
    proc.stop(9)

    # A new process: the bathroom motion three hours ago is remembered, so "now" (a temperature reading's
    # time) finds the resident still in the bathroom far past the usual limit.
    proc = rules(stack_dir, tmp_path, worker, "--clock", "data")
    pub = DevicePublisher(settings, thermo, home.passwords[thermo])
    pub.publish(topics.device_event(thermo), payload(1, "temperature", temperature=21.5))
    pub.close()

    def found() -> list[tuple[int, str, str, str, int]]:
        return [a for a in alerts(db, home.home_id) if a[1] == "inactivity"]

    assert wait_until(lambda: bool(found()), 20), proc.log()
    alert_id, _, severity, status, _ = found()[0]
    assert (severity, status) == ("critical", "open")  # bathroom
    step0 = "SELECT count(*) FROM notification WHERE alert_id = %s AND step = 0"
    assert wait_until(lambda: count(db, step0, alert_id) == 1, 20), proc.log()
    proc.stop(9)  # before the manager's step (6 s later) is due

    proc = rules(stack_dir, tmp_path, worker, "--clock", "data")
    # Written and sent (not left pending for whoever runs the outbox next).
    step1 = (
        "SELECT count(*) FROM notification WHERE alert_id = %s AND step = 1 AND recipient = '站长' "
        "AND status = 'sent'"
    )
    assert wait_until(lambda: count(db, step1, alert_id) == 1, 30), proc.log()
    assert count(db, step0, alert_id) == 1  # not repeated by the restart
    events = db.execute(
        "SELECT action FROM alert_event WHERE alert_id = %s AND actor = 'escalation' ORDER BY id", (alert_id,)
    ).fetchall()
    assert [e[0] for e in events] == ["notified", "escalated"]
    assert proc.stop() == 0


def _logged(proc: CliProcess, line: str) -> bool:
    return line in proc.log()


def _alert_count_is(db: psycopg.Connection, home_id: str, n: int) -> bool:
    return len(alerts(db, home_id)) == n


def _count_is(db: psycopg.Connection, sql: str, arg: str, n: int) -> bool:
    return count(db, sql, arg) == n


def test_partitions_and_the_urgent_lane_raise_each_sos_once(
    db: psycopg.Connection, settings: Settings, stack_dir: Path, tmp_path: Path
) -> None:
    homes = [make_home(db, settings) for _ in range(4)]
    buttons = [add_device(db, settings, h, DeviceKind.SOS_BUTTON, Room.BEDROOM) for h in homes]
    db.commit()
    owners = {h.home_id: i for h in homes for i in (0, 1) if Partition(i, 2).owns(h.home_id)}
    tag = uuid.uuid4().hex[:8]
    procs = [rules(stack_dir, tmp_path, f"{tag}-{i}", "--partition", f"{i}/2") for i in (0, 1)]
    for p in procs:
        assert wait_until(partial(_logged, p, "urgent lane connected"), 20), p.log()
    for home, sos in zip(homes, buttons, strict=True):
        pub = DevicePublisher(settings, sos, home.passwords[sos])
        pub.publish(topics.device_event(sos), payload(1, "sos_button", action="sos"))
        pub.close()
    for home in homes:
        assert wait_until(partial(_alert_count_is, db, home.home_id, 1), 20), procs[
            owners[home.home_id]
        ].log()
    # Both workers run the escalation steps (SKIP LOCKED): each alert's first step is written and sent once.
    sent = "SELECT count(*) FROM notification n JOIN alert a ON a.id = n.alert_id WHERE a.home_id = %s AND n.step = 0"
    for home in homes:
        assert wait_until(partial(_count_is, db, sent + " AND n.status = 'sent'", home.home_id, 1), 20)
        assert count(db, sent, home.home_id) == 1
    for p in procs:
        assert p.stop() == 0
    # Each press reached both sessions of its owner (the urgent lane's and the wildcard's) and the
    # other worker's wildcard; it was evaluated once, by its owner.
    for home in homes:
        assert [a[4] for a in alerts(db, home.home_id)] == [1]
    logs = [p.log() for p in procs]
    for home in homes:
        mine = owners[home.home_id]
        assert f"at home {home.home_id}" in logs[mine]
        assert f"at home {home.home_id}" not in logs[1 - mine]
    stopped = [re.search(r"rules stopped: .*skipped=(\d+) urgent_copies=(\d+)", log) for log in logs]
    assert all(stopped), logs
    skipped = [int(m.group(1)) for m in stopped if m]
    copies = [int(m.group(2)) for m in stopped if m]
    assert sum(copies) == len(homes)
    assert skipped == [sum(1 for o in owners.values() if o != i) for i in (0, 1)]
