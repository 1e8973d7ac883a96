"""``eldercare eval detection`` and ``eval replay`` on the real stack: simulate/replay, ingest, rules, scoring."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from devices.paths import shared_data_dir
from web.cli_eval import register
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(240)]
PER_KIND = {"incidents", "detected", "masked", "recall", "precision"} | {
    "time_to_detect_min_p50",
    "time_to_detect_min_p90",
}


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app, typer.Typer())
    return app


def _run(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(_app(), ["eval", *args, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, result.stdout
    out: dict[str, Any] = json.loads(lines[0])
    return out


def test_detection_scores_injected_incidents(settings: Settings) -> None:
    d = ["--dir", str(settings.stack_dir)]
    r = _run("detection", *d, "--homes", "6", "--days", "1", "--seed", "1", "--speed", "2400", "--rate", "3")
    assert r["conditions"]["homes"] == 6
    assert (r["conditions"]["incident_homes"], r["conditions"]["quiet_homes"]) == (3, 3)
    assert r["conditions"]["readings"] > 1000
    assert r["incidents"] >= 1
    assert r["per_kind"], r
    for figures in r["per_kind"].values():
        assert set(figures) == PER_KIND
    detected = sum(f["detected"] for f in r["per_kind"].values())
    assert detected >= 1, r
    assert r["home_days"] == 3.0
    assert r["conditions"]["baselines"]["homes"] == 6  # every resident's routine learned beforehand
    assert r["conditions"]["baselines"]["days"] == 14
    missed = sum(f["incidents"] - f["detected"] for f in r["per_kind"].values())
    assert len(r["missed"]) == missed
    assert all({"home", "kind", "start", "nearest_alert"} <= set(m) for m in r["missed"])
    assert r["false_alarms_per_home_day"] == pytest.approx(r["false_alarms"] / 3.0, abs=0.001)


def test_detection_refuses_bad_flags() -> None:
    for bad in (["--homes", "1"], ["--days", "9"], ["--speed", "2"]):
        result = CliRunner().invoke(_app(), ["eval", "detection", *bad, "--json"])
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)


def test_replay_reports_false_alarms_of_a_casas_log(settings: Settings) -> None:
    casas = shared_data_dir() / "casas" / "tm000.20160207_AM_InactivitySeq.txt"
    if not casas.exists():
        pytest.skip(f"{casas} is not available")
    r = _run("replay", "--casas", str(casas), "--dir", str(settings.stack_dir), "--speed", "400")
    assert r["conditions"]["readings"] > 100
    assert 0 < r["home_days"] < 0.1  # the log spans about one hour
    counted = [a for a in r["alerts"] if a["kind"] not in _health()]
    assert r["no_activity_notices"] == len([a for a in counted if a["kind"] == "no_activity"])
    assert r["false_alarms"] == len(counted) - r["no_activity_notices"]
    assert all(set(a) == {"kind", "reason_en", "detected_at"} for a in r["alerts"])
    assert r["false_alarms_per_home_day"] == pytest.approx(r["false_alarms"] / r["home_days"], rel=0.05)


def _health() -> set[str]:
    from monitor.evaluation import HEALTH

    return set(HEALTH)
