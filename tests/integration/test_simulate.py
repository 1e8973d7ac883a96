"""`eldercare simulate` and `eldercare replay` end to end: registry, broker credentials, MQTT, ingest, database."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from devices import registry
from devices.paths import shared_data_dir
from simulators.station import station_homes
from tests.support import CliProcess, IngestProcess, count, wait_until
from web.settings import Settings

SHANGHAI = ZoneInfo("Asia/Shanghai")

pytestmark = pytest.mark.db

CASAS = shared_data_dir() / "casas"


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _ingest(settings: Settings, tmp_path: Path) -> IngestProcess:
    group = f"sim{uuid.uuid4().hex[:6]}"
    return IngestProcess(
        settings.stack_dir,
        group,
        tmp_path / "ingest.log",
        "--shared-group",
        group,
        "--session-expiry-s",
        "600",
    )


def _readings(db: psycopg.Connection, home_ids: list[str]) -> int:
    return count(db, "SELECT count(*) FROM reading WHERE home_id = ANY(%s)", home_ids)


def _dead(db: psycopg.Connection, like: str) -> int:
    return count(
        db, "SELECT count(*) FROM dead_letter WHERE device_id LIKE %s OR topic LIKE %s", like, f"%{like}"
    )


def test_simulate_provisions_homes_and_readings_reach_the_database(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    station = f"st-sim-{uuid.uuid4().hex[:6]}"
    registry.add_station(db, id=station, name="模拟站", lat=29.72, lon=106.63)
    db.commit()
    ingest = _ingest(settings, tmp_path)
    truth = tmp_path / "truth.jsonl"
    args = ["simulate", "--dir", str(settings.stack_dir), "--provision", "--station", station, "--homes", "3"]
    args += ["--speed", "600", "--seconds", "8", "--seed", "1", "--incidents", "none", "--truth", str(truth)]
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    assert "simulate ready" in done.stderr
    rows = db.execute(
        "SELECT id, lat, lon FROM home WHERE station_id = %s ORDER BY id", (station,)
    ).fetchall()
    db.commit()
    assert len(rows) == 3
    assert all(abs(lat - 29.72) < 0.01 and abs(lon - 106.63) < 0.012 for _, lat, lon in rows)
    homes = [r[0] for r in rows]
    assert wait_until(lambda: _readings(db, homes) > 50, 30), ingest.log()
    devices = count(db, "SELECT count(DISTINCT device_id) FROM reading WHERE home_id = ANY(%s)", homes)
    assert devices >= 3 * 5  # motion in five rooms, meters, heartbeats: many devices of every home report
    future = "SELECT count(*) FROM reading WHERE home_id = ANY(%s) AND time > now() + interval '5 min'"
    assert count(db, future, homes) == 0
    prefix = homes[0].rsplit("-h", 1)[0]
    assert _dead(db, f"{prefix}-%") == 0
    assert truth.read_text() == ""  # --incidents none injects nothing
    # Re-running is idempotent: the same three homes, nothing added.
    again = _cli(*args[:-4], "--seconds", "1", "--incidents", "none")
    assert again.returncode == 0, again.stderr
    assert count(db, "SELECT count(*) FROM home WHERE station_id = %s", station) == 3
    assert ingest.stop() == 0
    assert _dead(db, f"{prefix}-%") == 0


def test_simulate_refuses_a_bad_incident_spec(settings: Settings) -> None:
    done = _cli(
        "simulate", "--dir", str(settings.stack_dir), "--station", "nowhere", "--incidents", "meteor@day1"
    )
    assert done.returncode == 2
    assert "unknown incident kind 'meteor'" in done.stderr


@pytest.mark.parametrize(
    ("name", "limit"), [("tm000.20160207_AM_InactivitySeq.txt", None), ("tm000.multiday_absence.txt", 500)]
)
def test_casas_replay_reaches_the_database(
    settings: Settings, db: psycopg.Connection, tmp_path: Path, name: str, limit: int | None
) -> None:
    home = f"casas-{uuid.uuid4().hex[:8]}"
    ingest = _ingest(settings, tmp_path)
    args = ["replay", "--dir", str(settings.stack_dir), "--casas", str(CASAS / name), "--home-id", home]
    args += ["--speed", "1000000", *(["--limit", str(limit)] if limit else [])]
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    match = re.search(r"(\d+)/(\d+) readings published", done.stderr)
    assert match is not None, done.stderr
    published = int(match.group(1))
    assert published == int(match.group(2))
    assert published > 0.5 * (limit or 200)  # most events are ON/OFF of mapped sensors
    assert wait_until(lambda: _readings(db, [home]) >= published, 30), (done.stderr, ingest.log())
    assert _readings(db, [home]) == published
    assert _dead(db, f"{home}-%") == 0
    kinds = {
        r[0] for r in db.execute("SELECT DISTINCT kind FROM reading WHERE home_id = %s", (home,)).fetchall()
    }
    db.commit()
    assert "motion" in kinds
    assert ingest.stop() == 0


def test_scheduled_incident_reaches_the_database_and_sigterm_stops_cleanly(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    station = f"st-sos-{uuid.uuid4().hex[:6]}"
    registry.add_station(db, id=station, name="模拟站", lat=29.72, lon=106.63)
    db.commit()
    home = station_homes(station, 1, seed=5)[0].home_id
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None, microsecond=0)
    sos_at = start + timedelta(minutes=10)
    ingest = _ingest(settings, tmp_path)
    truth = tmp_path / "truth.jsonl"
    args = ["simulate", "--dir", str(settings.stack_dir), "--provision", "--station", station, "--homes", "1"]
    args += [
        "--speed",
        "600",
        "--seed",
        "5",
        "--tz",
        "UTC",
        "--start",
        start.isoformat(),
        "--truth",
        str(truth),
    ]
    args += ["--incidents", f"sos@{sos_at.isoformat()}/{home}"]
    sim = CliProcess(args, tmp_path / "simulate.log", ready="simulate ready")
    sos = "SELECT count(*) FROM reading WHERE device_id = %s AND data->>'action' = 'sos'"
    assert wait_until(lambda: count(db, sos, f"{home}-bedroom-sos_button") == 1, 30), (
        sim.log(),
        ingest.log(),
    )
    assert sim.stop(signal.SIGTERM) == 0, sim.log()
    (line,) = truth.read_text().splitlines()
    record = json.loads(line)
    assert (record["home"], record["kind"]) == (home, "sos")
    assert record["start"] == sos_at.isoformat() + "Z"
    assert ingest.stop() == 0


def test_a_second_log_replays_into_the_same_home(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    home = f"casas-{uuid.uuid4().hex[:8]}"
    ingest = _ingest(settings, tmp_path)
    base = ["replay", "--dir", str(settings.stack_dir), "--home-id", home, "--speed", "1000000"]
    first = _cli(*base, "--casas", str(CASAS / "tm000.20160207_AM_InactivitySeq.txt"))
    assert first.returncode == 0, first.stderr
    before = {r[0] for r in db.execute("SELECT id FROM device WHERE home_id = %s", (home,)).fetchall()}
    db.commit()
    second = _cli(*base, "--casas", str(CASAS / "tm000.multiday_absence.txt"), "--limit", "2000")
    assert second.returncode == 0, second.stderr
    after = {r[0] for r in db.execute("SELECT id FROM device WHERE home_id = %s", (home,)).fetchall()}
    db.commit()
    assert before < after  # the second log's other sensors were added to the home
    total = sum(
        int(m.group(1)) for m in re.finditer(r"(\d+)/\d+ readings published", first.stderr + second.stderr)
    )
    assert wait_until(lambda: _readings(db, [home]) >= total, 30), ingest.log()
    assert _dead(db, f"{home}-%") == 0
    assert ingest.stop() == 0


def test_simulate_replay_casas_reaches_the_database(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    home = f"casas-{uuid.uuid4().hex[:8]}"
    ingest = _ingest(settings, tmp_path)
    log = CASAS / "tm000.20160207_AM_InactivitySeq.txt"
    args = ["simulate", "--dir", str(settings.stack_dir), "--replay", f"casas:{log}", "--home-id", home]
    done = _cli(*args, "--speed", "100000")
    assert done.returncode == 0, done.stderr
    match = re.search(r"(\d+)/(\d+) readings published", done.stderr)
    assert match is not None, done.stderr
    published = int(match.group(1))
    assert published == int(match.group(2)) > 100
    assert wait_until(lambda: _readings(db, [home]) >= published, 30), (done.stderr, ingest.log())
    assert _readings(db, [home]) == published
    assert _dead(db, f"{home}-%") == 0
    span = db.execute("SELECT min(time), max(time) FROM reading WHERE home_id = %s", (home,)).fetchone()
    db.commit()
    assert span is not None
    # Shifted by whole days to end within the last day, so each event keeps the log's local time of day
    # (the log is read as Asia/Shanghai time): its first line is 2016-02-07 08:14:36.157310.
    assert timedelta(0) <= datetime.now(UTC) - span[1] < timedelta(days=1)
    first = span[0].astimezone(SHANGHAI)
    assert (first.hour, first.minute, first.second) == (8, 14, 36)
    assert (first - datetime(2016, 2, 7, 8, 14, 36, tzinfo=SHANGHAI)) % timedelta(days=1) < timedelta(
        seconds=1
    )
    assert ingest.stop() == 0


@pytest.mark.parametrize(
    ("source", "message"),
    [("hh:/tmp/x.txt", "want casas:PATH"), ("casas:/nonexistent/log.txt", "no such file"), ("casas", "want")],
)
def test_simulate_refuses_a_bad_replay_source(settings: Settings, source: str, message: str) -> None:
    done = _cli("simulate", "--dir", str(settings.stack_dir), "--replay", source)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_simulate_in_several_processes_prints_one_record(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    station = f"st-load-{uuid.uuid4().hex[:6]}"
    registry.add_station(db, id=station, name="负载站", lat=29.72, lon=106.63)
    db.commit()
    ingest = _ingest(settings, tmp_path)
    args = ["simulate", "--dir", str(settings.stack_dir), "--provision", "--station", station, "--homes", "6"]
    args += ["--processes", "2", "--mix", "gateway", "--speed", "600", "--seconds", "6", "--json"]
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    homes = [r[0] for r in db.execute("SELECT id FROM home WHERE station_id = %s", (station,)).fetchall()]
    db.commit()
    accounts = count(db, "SELECT count(*) FROM device WHERE home_id = ANY(%s) AND gateway_id IS NULL", homes)
    assert (record["homes"], record["processes"], record["connections"]) == (6, 2, accounts)
    assert record["messages_published"] > 50
    assert len(record["cpu_percent"]) == 2
    assert record["publish_lag_ms_p99"] >= record["publish_lag_ms_p50"] >= 0
    assert "6/6 homes online" in done.stderr
    total = record["messages_published"]
    assert wait_until(lambda: _readings(db, homes) >= total, 30), ingest.log()
    assert _readings(db, homes) == total
    assert ingest.stop() == 0
