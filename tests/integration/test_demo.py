"""`eldercare demo --seconds N --json` from nothing: its own stack, seeded neighbourhood, every process, a summary."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from web.stack.proc import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_demo_runs_the_closed_loop_and_stops_cleanly() -> None:
    root = Path(tempfile.mkdtemp(prefix="eldercare-demo-", dir="/tmp"))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "web.cli", "demo", "--dir", str(root), "--seconds", "90", "--json",
             "--homes-per-station", "30", "--port", str(free_port())],
            capture_output=True, text=True, timeout=500, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        assert summary["homes"] == 90
        assert summary["readings_stored"] > 1000
        assert summary["plans_made"] >= 3  # one per station, plus re-plans
        assert summary["visits_completed"] > 0  # the demo's caregivers checked in and out through the API
        assert summary["demo_people"]["errors"] == 0
        assert "dashboard" in done.stderr
        assert "stopped" in done.stderr  # the servers it started were stopped
    finally:
        subprocess.run(
            [sys.executable, "-m", "web.cli", "stack", "down", "--dir", str(root)], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
