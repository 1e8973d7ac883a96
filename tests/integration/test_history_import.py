"""``eldercare history import`` on the real stack: old readings stored by COPY, twice is once, bad lines
dead-lettered with their line numbers, the resident's baseline relearned from the history."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devices.paths import shared_data_dir
from tests.support import make_home
from web.settings import Settings

pytestmark = [pytest.mark.db]
CASAS = shared_data_dir() / "casas" / "tm000.20160207_AM_InactivitySeq.txt"  # found the way the code does
T0 = datetime(2019, 3, 4, tzinfo=UTC)  # years older than the live path's 7-day limit


def _import(settings: Settings, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "web.cli", "history", "import", *args, "--dir", str(settings.stack_dir), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return proc.returncode, json.loads(lines[-1]) if lines else {}, proc.stderr


def test_csv_history_twice_is_once(db: psycopg.Connection, settings: Settings, tmp_path: Path) -> None:
    home = make_home(db, settings)
    db.commit()
    rows = ["time,device_id,values"]
    for i in range(16 * 24):  # 16 days, a bathroom visit each hour
        rows.append(f'{(T0 + timedelta(hours=i)).isoformat()},{home.native},"{{""occupancy"": true}}"')
    rows.insert(5, f"{T0.isoformat()},{home.native},not json")
    rows.insert(9, f'{T0.isoformat()},ghost-device,"{{""occupancy"": true}}"')
    path = tmp_path / "history.csv"
    path.write_text("\n".join(rows) + "\n")

    code, first, err = _import(settings, str(path))
    assert code == 0, err
    assert first["read"] == 16 * 24
    assert first["stored"] == 16 * 24
    assert first["bad"] == 2
    assert first["issues"][0].startswith("line 6: ")
    assert first["issues"][1].startswith("line 10: unknown device")
    assert first["homes"] == [home.home_id]
    code, again, err = _import(settings, str(path))
    assert code == 0, err
    assert again["stored"] == 0
    assert again["duplicates"] == 16 * 24
    assert again["dead_lettered"] == 0

    stored = db.execute(
        "SELECT count(*), min(time), max(time) FROM reading WHERE device_id = %s", (home.native,)
    ).fetchone()
    assert stored == (16 * 24, T0, T0 + timedelta(hours=16 * 24 - 1))
    reasons = [r[0] for r in db.execute(
        "SELECT reason FROM dead_letter WHERE topic = 'history:history.csv' ORDER BY reason"
    ).fetchall()]  # fmt: skip
    assert any(r.startswith("history import line 6: ") for r in reasons)
    assert any(r.startswith("history import line 10: unknown device") for r in reasons)
    base = db.execute(
        "SELECT b.baseline, b.built_at FROM resident_baseline b JOIN resident r ON r.id = b.resident_id "
        "WHERE r.home_id = %s",
        (home.home_id,),
    ).fetchone()
    assert base is not None
    assert base[1] == T0 + timedelta(hours=16 * 24 - 1, seconds=1)
    learned = json.loads(base[0]) if isinstance(base[0], str) else base[0]
    assert learned["days_of_data"] >= 15  # learned from the history, not the defaults (0 days)


def test_casas_history_registers_and_dead_letters(
    db: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    home = make_home(db, settings)
    db.commit()
    log = tmp_path / "casas.txt"
    log.write_text(CASAS.read_text().rstrip("\n") + "\n2016-02-07 nonsense\n")
    code, out, err = _import(settings, str(log), "--format", "casas", "--home", home.home_id)
    assert code == 1, err
    assert out["stored"] == 0
    assert out["bad"] > 100  # sensors not registered: dead letters
    code, out, err = _import(settings, str(log), "--format", "casas", "--home", home.home_id, "--register")
    assert code == 0, err
    assert out["stored"] > 100
    assert out["first"].startswith("2016-02-07")
    assert any(i.startswith(f"line {len(CASAS.read_text().splitlines()) + 1}: ") for i in out["issues"]), out
    devices = db.execute("SELECT count(*) FROM device WHERE home_id = %s", (home.home_id,)).fetchone()
    assert devices is not None
    assert devices[0] > 3


def test_clear_errors(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n")
    code, _, err = _import(settings, str(path), "--format", "casas")
    assert code == 2
    assert "--home" in err
    code, out, err = _import(settings, str(path))
    assert code == 1
    assert out["bad"] == 1
    assert "header lacks" in err
