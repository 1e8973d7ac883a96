"""Retention with drop_chunks and the hourly activity rollup, on the real TimescaleDB."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from monitor import baselines, maintenance
from tests.support import CliProcess, count, make_home, wait_until
from web.settings import Settings

pytestmark = [pytest.mark.db]
T0 = datetime(2020, 1, 20, tzinfo=UTC)  # long before any other test's data


def _reading(
    db: psycopg.Connection, device: str, home: str, at: datetime, seq: int, data: dict[str, object]
) -> None:
    db.execute(
        "INSERT INTO reading (time, device_id, seq, kind, home_id, room, data) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            at,
            device,
            seq,
            "motion" if "occupancy" in data else "water_meter",
            home,
            "kitchen",
            json.dumps(data),
        ),
    )


def test_rollup_then_retention(db: psycopg.Connection) -> None:
    tag = uuid.uuid4().hex[:6]
    home, pir, meter = f"h-{tag}", f"m-{tag}", f"w-{tag}"
    hour = T0 - timedelta(hours=2)
    for i in range(6):
        _reading(db, pir, home, hour + timedelta(minutes=5 * i), i, {"occupancy": i % 2 == 0})
    _reading(db, meter, home, hour + timedelta(minutes=1), 1, {"water_total_l": 1000.0})
    _reading(db, meter, home, hour + timedelta(minutes=50), 2, {"water_total_l": 1012.5})
    _reading(db, pir, home, T0 - timedelta(days=20), 99, {"occupancy": True})
    db.commit()

    assert maintenance.rollup(db, since=T0 - timedelta(hours=3), until=T0) >= 1
    row = db.execute(
        "SELECT events, motion_events, water_l FROM activity_hourly WHERE home_id = %s AND hour = %s",
        (home, hour),
    ).fetchone()
    assert row == (8, 3, 12.5)
    assert maintenance.rollup(db, since=T0 - timedelta(hours=3), until=T0) >= 1  # idempotent
    assert count(db, "SELECT count(*) FROM activity_hourly WHERE home_id = %s", home) == 1

    dropped = maintenance.apply_retention(db, keep=timedelta(days=7), now=T0)
    assert dropped >= 1
    assert count(db, "SELECT count(*) FROM reading WHERE device_id = %s AND seq = 99", pir) == 0
    assert count(db, "SELECT count(*) FROM reading WHERE home_id = %s", home) == 8  # recent chunk kept


def _dead_letter(db: psycopg.Connection, tag: str, received_at: datetime) -> None:
    db.execute(
        "INSERT INTO dead_letter (received_at, topic, payload, reason, device_id) VALUES (%s, %s, %s, %s, %s)",
        (received_at, f"eldercare/v1/devices/{tag}/event", b"{", "invalid JSON", tag),
    )


def _dead_letters(db: psycopg.Connection, tag: str) -> list[datetime]:
    rows = db.execute(
        "SELECT received_at FROM dead_letter WHERE device_id = %s ORDER BY received_at", (tag,)
    ).fetchall()
    db.commit()
    return [r[0] for r in rows]


def test_dead_letters_past_their_age_are_deleted_in_bounded_batches(db: psycopg.Connection) -> None:
    tag = f"dl-{uuid.uuid4().hex[:8]}"
    cut = datetime(2019, 7, 1, tzinfo=UTC)  # before any other test's dead letters
    old = [cut - timedelta(days=40, minutes=i) for i in range(5)]
    recent = [cut + timedelta(minutes=1), cut + timedelta(days=3)]
    for at in old + recent:
        _dead_letter(db, tag, at)
    db.commit()
    assert maintenance.purge_dead_letters(db, before=cut, batch=2, max_batches=2) == 4  # bounded: 2 x 2
    assert _dead_letters(db, tag) == [max(old), *recent]  # the oldest went first
    assert maintenance.purge_dead_letters(db, before=cut, batch=2, max_batches=2) == 1  # the rest, next pass
    assert maintenance.purge_dead_letters(db, before=cut) == 0
    assert _dead_letters(db, tag) == recent  # younger than the cut-off: kept
    with pytest.raises(ValueError, match="timezone-aware"):
        maintenance.purge_dead_letters(db, before=cut.replace(tzinfo=None))


def test_maintain_once_reports_dead_letters_deleted(db: psycopg.Connection, settings: Settings) -> None:
    tag = f"dl-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    for days in (45, 31, 29, 1):
        _dead_letter(db, tag, now - timedelta(days=days))
    db.commit()
    out = subprocess.run(
        [sys.executable, "-m", "web.cli", "maintain", "--dir", str(settings.stack_dir), "--once",
         "--keep-days", "36500", "--baselines", "0", "--dead-letter-days", "30"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["dead_letters_deleted"] >= 2  # ours, and any other older than 30 days
    assert [round((now - at).total_seconds() / 86400) for at in _dead_letters(db, tag)] == [29, 1]
    assert {"rollup_rows", "chunks_dropped", "licence", "baselines_relearned"} <= set(result)


def test_maintain_process_reports_health_and_passes(
    db: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    tag = f"dl-{uuid.uuid4().hex[:8]}"
    _dead_letter(db, tag, datetime.now(UTC) - timedelta(days=8))
    db.commit()
    proc = CliProcess(["maintain", "--dir", str(settings.stack_dir), "--interval-s", "1", "--metrics-port", "0",
                       "--keep-days", "3650", "--dead-letter-days", "7"], tmp_path / "maintain.log",
                      "metrics and health on")  # fmt: skip
    try:
        port = re.search(r"http://127.0.0.1:(\d+)/metrics", proc.log())
        assert port is not None
        base = f"http://127.0.0.1:{port.group(1)}"

        def passes() -> float:
            found = re.search(
                r'eldercare_maintenance_runs_total\{outcome="ok"\} ([0-9.]+)',
                httpx.get(base + "/metrics").text,
            )
            return float(found.group(1)) if found else 0.0

        assert wait_until(lambda: passes() >= 2, 30), proc.log()
        assert httpx.get(base + "/readyz").status_code == 200
        assert httpx.get(base + "/healthz").text == "ok\n"
        deleted = re.search(
            r"^eldercare_maintenance_dead_letters_deleted_total ([0-9.e+]+)$",
            httpx.get(base + "/metrics").text,
            re.MULTILINE,
        )
        assert deleted is not None
        assert float(deleted.group(1)) >= 1
        assert _dead_letters(db, tag) == []
    finally:
        assert proc.stop() == 0, proc.log()
    assert "maintain stopped" in proc.log()


def test_baselines_are_relearned_from_the_residents_own_readings(
    db: psycopg.Connection, settings: Settings
) -> None:
    """Two residents with the same 20 days of bathroom activity, except that one of them has barely moved for
    the last three days: both baselines are learned (not the defaults), and only the second shows the drop."""
    now = datetime(2021, 3, 21, tzinfo=UTC)  # after the retention test's cut-off, before other tests' data
    steady, slowing = make_home(db, settings), make_home(db, settings)
    for home in (steady, slowing):
        seq = 0
        for day in range(20, 0, -1):
            quiet = home is slowing and day <= 3
            for hour in range(0, 14, 3 if quiet else 1):  # 08:00..21:00 Asia/Shanghai
                seq += 1
                at = now - timedelta(days=day) + timedelta(hours=hour, minutes=seq % 7)
                _reading(db, home.native, home.home_id, at, seq, {"occupancy": True})
    db.commit()
    maintenance.rollup(db, since=now - timedelta(days=21), until=now)
    homes = [steady.home_id, slowing.home_id]
    assert baselines.due(db, now=now, limit=10, home_ids=homes)[1] == 2
    result = baselines.relearn(db, now=now, home_ids=homes)
    assert result.residents == 2
    assert result.readings > 2 * 200
    learned: dict[str, Any] = {}
    for home_id in homes:
        row = db.execute(
            "SELECT b.baseline, b.built_at FROM resident_baseline b JOIN resident r ON r.id = b.resident_id "
            "WHERE r.home_id = %s",
            (home_id,),
        ).fetchone()
        assert row is not None
        assert row[1] == now
        learned[home_id] = row[0]
    assert learned[steady.home_id]["days_of_data"] >= 14
    assert learned[steady.home_id]["daily_activity_median"] == 14
    assert learned[steady.home_id]["recent_activity_ratio"] == 1.0
    assert learned[slowing.home_id]["recent_activity_ratio"] < 0.5  # what the declining-activity rule reads
    assert (
        baselines.due(db, now=now + timedelta(hours=1), limit=10, home_ids=homes)[1] == 0
    )  # fresh for a day
    assert baselines.due(db, now=now + timedelta(days=1), limit=10, home_ids=homes)[1] == 2
