"""``eldercare bench solomon`` and ``eldercare bench plan``: the dispatcher's benchmarks (no stack needed)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

err = Console(stderr=True)
Step = Callable[[str, int, int], None]


@contextmanager
def _progress(title: str) -> Iterator[Step]:
    """A rich progress bar on stderr, advanced by ``step(label, done, total)``."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(title, total=None)

        def step(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"{title}: {label}", completed=done, total=total)

        yield step


def _names(instances: str | None, all_: bool) -> list[str] | None:
    from dispatcher.bench_solomon import DEFAULT_INSTANCES

    if instances is not None and all_:
        raise typer.BadParameter("give either --instances or --all, not both")
    if all_:
        return None
    if instances is None:
        return list(DEFAULT_INSTANCES)
    names = [n.strip() for n in instances.split(",") if n.strip()]
    if not names:
        raise typer.BadParameter("--instances needs at least one name, e.g. C101,R101")
    return names


def bench_solomon(
    instances: Annotated[
        str | None,
        typer.Option("--instances", help="comma-separated, e.g. C101,R101 (default: one per class)"),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="all 56 instances")] = False,
    time_limit: Annotated[float, typer.Option("--time-limit", min=0.1, help="seconds per instance")] = 60.0,
    data: Annotated[
        Path | None, typer.Option("--data", help="Solomon directory (default: shared data)", file_okay=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    jobs: Annotated[
        int, typer.Option("--jobs", min=1, help="instances solved in parallel processes (one core each)")
    ] = 1,
) -> None:
    """Solomon VRPTW instances with the planner's routing model, compared with the best-known solutions."""
    from dispatcher import bench_solomon as bench
    from dispatcher.errors import BenchmarkInputError

    names = _names(instances, all_)
    try:
        chosen = bench.resolve_names(names, data)
    except BenchmarkInputError as exc:
        raise typer.BadParameter(str(exc), param_hint="--instances") from exc
    with _progress("solomon") as step:
        result = bench.run(chosen, time_limit_s=time_limit, directory=data, on_instance=step, jobs=jobs)
    _emit(result, as_json, _solomon_lines)


def bench_plan(
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.1, help="seconds for the day's solve")
    ] = 60.0,
    seed: Annotated[int, typer.Option(help="seed of the synthetic day")] = 7,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A synthetic station-day (40 caregivers, 500 tasks): solve, re-check, and time 20 urgent re-plans."""
    from dispatcher import bench_plan as bench

    with _progress("plan") as step:
        result = bench.run(time_limit_s=time_limit, seed=seed, on_step=step)
    _emit(result, as_json, lambda r: [f"{k}: {v}" for k, v in r.items()])


def _solomon_lines(result: dict[str, Any]) -> list[str]:
    lines = ["instance  veh  bks  distance    bks_dist    gap%  feasible"]
    for name, r in result["instances"].items():
        gap = "-" if r.get("gap_pct") is None else f"{r['gap_pct']:.2f}"
        lines.append(
            f"{name:<8} {r['vehicles']:>4} {r.get('bks_vehicles', '-'):>4} {r['distance']:>9.2f}"
            f" {r.get('bks_distance', 0):>11.2f} {gap:>7}  {r['feasible']}"
        )
    lines.append(f"bks_vehicle_hits: {result['bks_vehicle_hits']}/{result['count']}")
    lines.append(f"mean_gap_pct_at_equal_vehicles: {result['mean_gap_pct_at_equal_vehicles']}")
    return lines


def _emit(result: dict[str, Any], as_json: bool, lines: Callable[[dict[str, Any]], list[str]]) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    for line in lines(result):
        print(line)


def register_bench(bench_app: typer.Typer) -> None:
    """Add ``solomon`` and ``plan`` to ``eldercare bench``."""
    bench_app.command("solomon")(bench_solomon)
    bench_app.command("plan")(bench_plan)
