"""The home-health-care benchmark on one small instance, and its input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dispatcher import bench_hhc
from dispatcher.errors import BenchmarkInputError
from dispatcher.hhc.check import check
from dispatcher.hhc.instance import parse_instance
from dispatcher.hhc.mapping import PlaneProvider, to_problem
from dispatcher.scheduling.solve import solve
from web.cli import app

A1 = bench_hhc.data_dir() / "InstanzCPLEX_HCSRP_10_1.txt"
pytestmark = pytest.mark.skipif(not A1.is_file(), reason="shared Mankowska data not present")


def test_a1_maps_onto_the_product_model_and_scores() -> None:
    inst = parse_instance(A1, "A1")
    mapped = to_problem(inst)
    prob = mapped.problem
    assert len(prob.caregivers) == 3
    assert sum(1 for t in prob.tasks if t.roles is not None) == 1  # A1: one simultaneous double service
    assert len(prob.precedences) == 2  # and two ordered ones
    plan = solve(prob, time_limit_s=2, travel=PlaneProvider())
    checked = check(inst, mapped, plan)
    assert checked.problems == []
    assert plan.unassigned == ()
    assert checked.objective == pytest.approx(
        (checked.distance + checked.tardiness + checked.max_tardiness) / 3
    )
    assert checked.objective >= 218.2 - 0.01  # never below the proven optimum
    # the raw re-check sees a broken precedence gap
    first = next(p for p in prob.precedences)
    moved = tuple(
        r.model_copy(
            update={
                "visits": tuple(
                    v.model_copy(update={"start": v.start + 100_000}) if v.task_id == first.second else v
                    for v in r.visits
                )
            }
        )
        for r in plan.routes
    )
    assert any("gap" in p for p in check(inst, mapped, plan.model_copy(update={"routes": moved})).problems)


def test_cli_prints_one_json_object(tmp_path: Path) -> None:
    (tmp_path / A1.name).write_bytes(A1.read_bytes())
    published = tmp_path / "published.csv"
    published.write_text(f"# one instance\ninstance,file,best_known\nA1,{A1.name},218.2\n", encoding="utf-8")
    args = [
        "bench",
        "hhc",
        "--json",
        "--time-limit",
        "1",
        "--instances",
        str(tmp_path),
        "--published",
        str(published),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["invalid_plans"] == 0
    row = out["instances"]["A1"]
    assert row["valid"] is True
    assert row["gap_pct"] is not None
    assert set(row) >= {"objective", "distance", "tardiness", "max_tardiness", "best_known"}
    assert out["sets"]["A"]["mean_gap_pct"] == row["gap_pct"]
    assert out["conditions"]["time_limit_s"] == 1


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkInputError, match="does not exist"):
        bench_hhc.entries(None, tmp_path / "nowhere")
    with pytest.raises(BenchmarkInputError, match="set"):
        bench_hhc.entries(["Z"])
    bad = tmp_path / "bad.txt"
    bad.write_text("nbNodes\n3\n", encoding="ascii")
    with pytest.raises(BenchmarkInputError, match="missing"):
        parse_instance(bad)
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "hhc", "--published", str(bad)])
    assert result.exit_code == 2
    result = runner.invoke(app, ["bench", "hhc", "--set", "Q", "--json"])
    assert result.exit_code == 2
    assert "Q" in result.output
