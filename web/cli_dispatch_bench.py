"""``eldercare bench solomon|plan|hhc``: the dispatcher's benchmarks (no stack needed)."""

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


def bench_hhc(
    sets: Annotated[
        str | None, typer.Option("--set", help="comma-separated sets, e.g. A or A,B (default: all)")
    ] = None,
    time_limit: Annotated[float, typer.Option("--time-limit", min=0.1, help="seconds per instance")] = 60.0,
    instances: Annotated[
        Path | None,
        typer.Option("--instances", help="directory of instance files (default: shared Mankowska data)"),
    ] = None,
    published: Annotated[
        Path | None,
        typer.Option("--published", help="CSV with instance,file,best_known (default: the shared one)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Mankowska home-health-care instances planned by the product's planner, re-checked and scored."""
    from dispatcher import bench_hhc as bench
    from dispatcher.errors import BenchmarkInputError

    chosen_sets = None
    if sets is not None:
        chosen_sets = [s.strip() for s in sets.split(",") if s.strip()]
        if not chosen_sets:
            raise typer.BadParameter("--set needs at least one set, e.g. A or A,B", param_hint="--set")
    if published is not None and instances is None:
        raise typer.BadParameter("--published goes with --instances DIR", param_hint="--published")
    if published is not None and not published.is_file():
        raise typer.BadParameter(f"{published} is not a file", param_hint="--published")
    try:
        chosen = bench.entries(chosen_sets, instances, published)
    except BenchmarkInputError as exc:
        raise typer.BadParameter(str(exc)) from exc
    with _progress("hhc") as step:
        try:
            result = bench.run(chosen, time_limit_s=time_limit, on_instance=step)
        except BenchmarkInputError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
    _emit(result, as_json, _hhc_lines)


def _hhc_lines(result: dict[str, Any]) -> list[str]:
    lines = ["instance  objective  distance  tardiness  max_tard  best_known   gap%  valid"]
    for name, r in result["instances"].items():
        gap = "-" if r["gap_pct"] is None else f"{r['gap_pct']:.2f}"
        best = "-" if r["best_known"] is None else f"{r['best_known']:.2f}"
        lines.append(
            f"{name:<8} {r['objective']:>10.2f} {r['distance']:>9.2f} {r['tardiness']:>10.2f}"
            f" {r['max_tardiness']:>9.2f} {best:>11} {gap:>6}  {r['valid']}"
        )
    for name, s in result["sets"].items():
        lines.append(f"set {name}: mean gap {s['mean_gap_pct']} %, valid {s['valid']}/{s['count']}")
    lines.append(f"invalid_plans: {result['invalid_plans']}")
    return lines


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
    """Add ``solomon``, ``plan`` and ``hhc`` to ``eldercare bench``."""
    bench_app.command("solomon")(bench_solomon)
    bench_app.command("plan")(bench_plan)
    bench_app.command("hhc")(bench_hhc)
