"""Backup and restore round trip through the CLI: registry and readings (a hypertable) come back whole."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from devices import registry
from devices.types import DeviceKind, Room
from web.settings import Settings

pytestmark = [pytest.mark.db]


def _cli(stack_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", "db", *args, "--dir", str(stack_dir)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _snapshot(conn: psycopg.Connection, tag: str) -> tuple[object, ...]:
    home = conn.execute("SELECT address, lat, lon FROM home WHERE id = %s", (f"h-{tag}",)).fetchone()
    readings = conn.execute(
        "SELECT count(*), sum(seq), min(time), max(time) FROM reading WHERE device_id = %s", (f"m-{tag}",)
    ).fetchone()
    hyper = conn.execute(
        "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'reading'"
    ).fetchone()
    return home, readings, hyper


def test_backup_then_restore_into_a_new_database(
    stack_dir: Path, settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    registry.add_home(
        db, id=f"h-{tag}", station_id=None, address="渝北区双龙湖街道 8 号", lat=29.72, lon=106.64
    )
    registry.add_device(db, id=f"m-{tag}", home_id=f"h-{tag}", kind=DeviceKind.MOTION, room=Room.BATHROOM)
    now = datetime.now(UTC)
    with db.cursor().copy(
        "COPY reading (time, device_id, seq, kind, home_id, room, data) FROM STDIN"
    ) as copy:
        for i in range(5000):  # spans three daily chunks
            at = now - timedelta(minutes=i)
            copy.write_row(
                (at, f"m-{tag}", i, "motion", f"h-{tag}", "bathroom", json.dumps({"occupancy": i % 3 == 0}))
            )
    db.commit()
    before = _snapshot(db, tag)

    dump = tmp_path / "eldercare.dump"
    out = _cli(stack_dir, "backup", str(dump))
    assert out.returncode == 0, out.stderr
    again = _cli(stack_dir, "backup", str(dump))
    assert again.returncode == 2  # never overwrites a backup
    target = f"restore_{tag}"
    out = _cli(stack_dir, "restore", str(dump), "--target-db", target)
    assert out.returncode == 0, out.stderr
    try:
        with psycopg.connect(make_conninfo(settings.db().conninfo(), dbname=target)) as restored:
            assert _snapshot(restored, tag) == before
            assert before[1] == (5000, sum(range(5000)), now - timedelta(minutes=4999), now)
        refused = _cli(stack_dir, "restore", str(dump), "--target-db", target)
        assert refused.returncode == 1
        assert "exists" in refused.stderr
    finally:
        assert settings.db_admin_url is not None
        with psycopg.connect(settings.db_admin_url.get_secret_value(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target)))
