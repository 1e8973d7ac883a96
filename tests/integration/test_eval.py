"""``eldercare eval detection`` and ``eval replay`` on the real stack: simulate/replay, ingest, rules, scoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

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
    # One simulator process for incident and quiet homes (one clock), whose readings reach the rules in
    # time order to within the order window: none came a data tick behind the rules' clock.
    sim = r["conditions"]["simulate"]
    assert sim["messages_published"] == r["conditions"]["readings"]
    assert r["conditions"]["late_readings"] == 0
    assert r["conditions"]["late_max_s"] <= 60  # a data tick


def test_detection_refuses_bad_flags() -> None:
    for bad in (["--homes", "1"], ["--days", "9"], ["--speed", "2"]):
        result = CliRunner().invoke(_app(), ["eval", "detection", *bad, "--json"])
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)


def _health() -> set[str]:
    from monitor.evaluation import HEALTH

    return set(HEALTH)


def _two_day_log(path: Path) -> Path:
    """Day 1 (history): about every 5 minutes 07:00-21:00 the resident moves between kitchen, living room
    and bathroom; day 2 (live): the same from 08:00 until 11:00 (the collapse is injected at 10:00)."""
    rooms = ["KitchenAArea", "LivingRoomAArea", "BathroomAArea", "LivingRoomAArea"]
    lines = []
    for day, (a, b) in ((8, (7 * 60, 21 * 60)), (9, (8 * 60, 11 * 60))):
        for k, m in enumerate(range(a, b, 5)):
            lines.append(f"2016-02-0{day} {m // 60:02d}:{m % 60:02d}:00.000000\t{rooms[k % 4]}\tON\t")
            lines.append(f"2016-02-0{day} {m // 60:02d}:{m % 60:02d}:02.000000\t{rooms[k % 4]}\tOFF\t")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_learns_then_scores_an_injected_collapse(settings: Settings, tmp_path: Path) -> None:
    log = _two_day_log(tmp_path / "two.txt")
    truth = tmp_path / "truth.jsonl"
    r = _run("replay", "--casas", str(log), "--dir", str(settings.stack_dir), "--speed", "600",
             "--learn-days", "1", "--heartbeat", "temperature:10", "--truth", str(truth),
             "--inject", "collapse@2016-02-09T10:00:00:kitchen", "--resolve-after-min", "20")  # fmt: skip
    c = r["conditions"]
    (home,) = c["baselines"]
    assert c["baselines"][home]["history_readings"] == 2 * 14 * 12  # day 1 imported, not replayed
    assert c["baselines"][home]["baseline_days"] > 0.5  # learned from it
    assert c["logs"][0]["learn_days"] == 1
    assert c["logs"][0]["copies"] == 1
    (inc,) = r["per_incident"]
    assert inc["room"] == "kitchen"
    assert inc["found"] is True
    assert 20 <= inc["time_to_detect_min"] <= 90
    assert inc["alert"]["kind"] == "inactivity"
    assert r["found_share"] == 1.0
    assert r["time_to_detect_min_p50"] == inc["time_to_detect_min"]
    assert r["per_room"]["kitchen"]["found"] == 1
    (line,) = truth.read_text().splitlines()
    assert json.loads(line)["start_in_log"].startswith("2016-02-09T10:00:00")
    assert all(a["reason_en"] and a["verdict"] for a in r["alerts"])
    assert r["false_alarms"] == sum(a["verdict"] == "false_alarm" for a in r["alerts"])
    assert c["duty_officer"]["real_incident"] >= 1  # resolved as a duty officer would
    assert r["false_alarms_per_home_day"] == pytest.approx(r["false_alarms"] / r["home_days"], abs=0.01)


def _quiet_morning_log(path: Path) -> Path:
    """A CASAS log: busy around 09:30, still in the bathroom from 10:05, seen again in the living room at 13:00;
    a thermometer reports every 10 minutes throughout (it moves the rules' data clock, it is no activity)."""
    rows = [("09:30:00", "LivingRoomAArea"), ("09:45:00", "KitchenAArea"), ("09:50:00", "LivingRoomAArea")]
    rows += [(f"10:0{m}:00", "BathroomAArea") for m in range(6)]
    rows += [("13:00:00", "LivingRoomAArea"), ("13:02:00", "KitchenAArea"), ("13:05:00", "LivingRoomAArea")]
    lines = []
    for hhmmss, sensor in rows:
        lines.append((f"2016-02-08 {hhmmss}.000000", sensor, "ON"))
        lines.append((f"2016-02-08 {hhmmss[:6]}30.000000", sensor, "OFF"))
    for m in range(9 * 60 + 25, 13 * 60 + 15, 10):
        lines.append((f"2016-02-08 {m // 60:02d}:{m % 60:02d}:10.000000", "LivingRoomATemperature", "21.5"))
    path.write_text("".join(f"{t}\t{sensor}\t{state}\t\n" for t, sensor, state in sorted(lines)))
    return path


def test_replay_with_an_away_period_raises_no_inactivity_in_it(settings: Settings, tmp_path: Path) -> None:
    casas = _quiet_morning_log(tmp_path / "quiet.txt")
    args = ["replay", "--casas", str(casas), "--dir", str(settings.stack_dir), "--speed", "600"]
    plain = _run(*args)
    still = [a for a in plain["alerts"] if a["kind"] == "inactivity"]
    assert still
    assert all(a["verdict"] == "false_alarm" for a in still)
    assert plain["false_alarms"] >= 1
    assert plain["incidents"] == 0
    away = _run(*args, "--away", "2016-02-08T10:10/2016-02-08T12:50")
    assert away["conditions"]["away"] == ["2016-02-08T10:10/2016-02-08T12:50"]
    assert [a for a in away["alerts"] if a["kind"] not in _health()] == []
    result = CliRunner().invoke(_app(), ["eval", *args, "--away", "2016-02-08T12:00/2016-02-08T11:00"])
    assert result.exit_code == 2, result.output
    assert "UNTIL must be after FROM" in " ".join(result.output.replace("│", " ").split())
