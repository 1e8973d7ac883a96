from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dispatcher.bench_solomon import (
    Customer,
    Instance,
    check_routes,
    parse_instance,
    read_bks,
    resolve_names,
    run,
    summarise,
    to_spec,
)
from dispatcher.errors import BenchmarkInputError
from dispatcher.scheduling.fleet import minimise_vehicles
from dispatcher.scheduling.spec import SearchSpec
from web.cli_dispatch_bench import register_bench

TINY = """TINY1\r
\r
VEHICLE\r
NUMBER     CAPACITY\r
  3          20\r
\r
CUSTOMER\r
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME\r
 \r
    0      0          0          0          0        100          0\r
    1      3          4          10         0         12          5\r
    2      6          8          10         10        30          5\r
    3     -3         -4          15         0         50          5\r
    4      0          5          5          0         90          2\r
"""


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    (tmp_path / "TINY1.txt").write_text(TINY, encoding="ascii", newline="")
    (tmp_path / "bks.csv").write_text(
        "instance,vehicles,distance,source\nTINY1,2,30.0,hand\n", encoding="utf-8"
    )
    return tmp_path


def test_parser_reads_header_and_rows(tiny_dir: Path) -> None:
    inst = parse_instance(tiny_dir / "TINY1.txt")
    assert inst.name == "TINY1"
    assert (inst.vehicles, inst.capacity) == (3, 20.0)
    assert [c.id for c in inst.nodes] == [0, 1, 2, 3, 4]
    c2 = inst.nodes[2]
    assert (c2.x, c2.y, c2.demand, c2.ready, c2.due, c2.service) == (6, 8, 10, 10, 30, 5)
    assert read_bks(tiny_dir / "bks.csv")["TINY1"].vehicles == 2


def test_parser_rejects_malformed_files(tmp_path: Path) -> None:
    bad = tmp_path / "BAD.txt"
    bad.write_text("BAD\nVEHICLE\n 3 20\n 0 0 0 0 0 100\n", encoding="ascii")
    with pytest.raises(BenchmarkInputError):
        parse_instance(bad)
    gap = tmp_path / "GAP.txt"
    gap.write_text("GAP\n 3 20\n 0 0 0 0 0 100 0\n 2 1 1 1 0 100 0\n", encoding="ascii")
    with pytest.raises(BenchmarkInputError):
        parse_instance(gap)


def test_checker_distance_and_violations(tiny_dir: Path) -> None:
    inst = parse_instance(tiny_dir / "TINY1.txt")
    ok, dist, problems = check_routes(inst, [[1, 2], [3, 4]])
    assert ok, problems
    assert dist == pytest.approx(5 + 5 + 10 + 5 + 90**0.5 + 5)  # real-valued, not rounded
    late, _, why = check_routes(inst, [[2, 1], [3, 4]])  # customer 1 reached at 20 > due 12
    assert not late
    assert any("late at 1" in w for w in why)
    assert not check_routes(inst, [[1, 3, 4]])[0]  # ... and load 30 > 20
    assert not check_routes(inst, [[1], [2], [3], [4]])[0]  # 4 vehicles > 3
    assert not check_routes(inst, [[1, 2]])[0]  # customers 3 and 4 not served
    assert not check_routes(inst, [[1, 2, 2], [3, 4]])[0]  # served twice


def test_run_solves_and_compares_with_bks(tiny_dir: Path) -> None:
    result = run(["tiny1"], time_limit_s=1, directory=tiny_dir)
    row = result["instances"]["TINY1"]
    assert row["feasible"]
    assert row["vehicles"] == 2
    assert row["distance"] == pytest.approx(39.49, abs=0.01)
    assert row["gap_pct"] == pytest.approx(100 * (row["distance"] - 30.0) / 30.0, abs=0.01)
    assert result["bks_vehicle_hits"] == 1
    assert result["conditions"]["time_limit_s"] == 1
    assert result["conditions"]["ortools"]


def test_summary_counts_hits_and_gap_only_at_equal_vehicles() -> None:
    rows: dict[str, dict[str, Any]] = {
        "A": {"vehicles": 10, "bks_vehicles": 10, "gap_pct": 1.0, "feasible": True},
        "B": {"vehicles": 12, "bks_vehicles": 11, "gap_pct": -3.0, "feasible": True},
        "C": {"vehicles": 9, "bks_vehicles": 9, "gap_pct": 3.0, "feasible": True},
        "D": {"vehicles": 0, "bks_vehicles": 9, "gap_pct": None, "feasible": False},
    }
    s = summarise(rows)
    assert s["bks_vehicle_hits"] == 2
    assert s["mean_gap_pct_at_equal_vehicles"] == pytest.approx(2.0)
    assert s["feasible_count"] == 3


def test_unknown_instance_is_a_clear_error(tiny_dir: Path) -> None:
    with pytest.raises(BenchmarkInputError, match="R999"):
        resolve_names(["TINY1", "R999"], tiny_dir)


def _app() -> typer.Typer:
    app = typer.Typer()
    bench = typer.Typer()
    app.add_typer(bench, name="bench")
    register_bench(bench)
    return app


def test_cli_solomon_json_and_flag_errors(tiny_dir: Path) -> None:
    runner = CliRunner()
    args = ["bench", "solomon", "--data", str(tiny_dir), "--time-limit", "1"]
    ok = runner.invoke(_app(), [*args, "--instances", "TINY1", "--json"])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)
    assert report["instances"]["TINY1"]["feasible"] is True
    unknown = runner.invoke(_app(), [*args, "--instances", "C999"])
    assert unknown.exit_code == 2
    assert "C999" in unknown.output
    both = runner.invoke(_app(), [*args, "--instances", "TINY1", "--all"])
    assert both.exit_code == 2
    negative = runner.invoke(_app(), [*args, "--time-limit", "0"])
    assert negative.exit_code == 2


def test_fleet_minimisation_removes_a_needless_route() -> None:
    # five customers on a line, wide windows, ample capacity: one vehicle is enough
    spec = to_spec(
        Instance(
            name="LINE",
            vehicles=5,
            capacity=100,
            nodes=[Customer(0, 0, 0, 0, 0, 1000, 0)]
            + [Customer(i, i, 0, 10, 0, 1000, 1) for i in range(1, 6)],
        )
    )
    raw = minimise_vehicles(spec, SearchSpec(time_limit_s=1))
    assert sum(1 for r in raw.routes if r) == 1
    assert len(raw.routes) == 5
    assert not raw.dropped
