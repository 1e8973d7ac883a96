"""CLI commands of the dispatch domain (registered on the one ``eldercare`` app by web/cli.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from web.cli_devices import DirOpt, MetricsPortOpt, configure_logging
from web.cli_dispatch_bench import register_bench
from web.settings import load_settings

err = Console(stderr=True)
caregivers_app = typer.Typer(no_args_is_help=True, help="Caregivers of the stations (护理员).")
service_plans_app = typer.Typer(no_args_is_help=True, help="Residents' recurring services (服务计划).")


def plan(
    station: Annotated[str, typer.Option(help="station id")],
    date_: Annotated[str, typer.Option("--date", help="YYYY-MM-DD or 'today'")] = "today",
    time_limit: Annotated[float, typer.Option(min=0.1, max=600, help="solver time limit in seconds")] = 10.0,
    dir_: DirOpt = None,
) -> None:
    """Generate a station-day's tasks from service plans, solve it and store the plan (prints a JSON summary)."""
    from datetime import datetime

    import psycopg

    from dispatcher.records import DEFAULT_TZ, parse_day
    from dispatcher.service import plan_day

    day = parse_day(date_)
    with (
        psycopg.connect(load_settings(dir_).db().conninfo()) as conn,
        err.status(f"planning {station} {day}…") as st,
    ):

        def progress(msg: str) -> None:
            err.print(f"  {msg}")
            st.update(f"planning {station} {day}: {msg}")

        now = datetime.now(DEFAULT_TZ)  # a day in progress: only what is still ahead is planned
        stored = plan_day(conn, station, day, time_limit_s=time_limit, progress=progress, now=now)
    p = stored.plan
    print(json.dumps({
        "station_id": station, "day": day.isoformat(), "version": stored.version, "status": p.status.value,
        "solve_seconds": round(p.solve_seconds, 2), "caregivers": len(p.problem.caregivers),
        "tasks": len(p.problem.tasks), "visits": sum(len(r.visits) for r in p.routes),
        "travel_minutes": p.travel_minutes,
        "unassigned": [u.model_dump(mode="json") for u in p.unassigned],
    }, ensure_ascii=False, indent=2))  # fmt: skip


def planner(
    dir_: DirOpt = None,
    time_limit: Annotated[float, typer.Option(min=0.1, max=60, help="re-plan time limit in seconds")] = 2.0,
    log_level: Annotated[str, typer.Option()] = "info",
    metrics_port: MetricsPortOpt = None,
) -> None:
    """The planner process: re-plans a station-day the moment an urgent task is created (LISTEN urgent_task);
    reconnects when the database goes away and catches up on what it missed."""
    from dispatcher.planner import run

    configure_logging(log_level)
    run(load_settings(dir_).db(), time_limit_s=time_limit, metrics_port=metrics_port)


def caregivers_add(
    file: Annotated[
        Path, typer.Argument(help="JSON: one caregiver or a list ('-' for stdin)", allow_dash=True)
    ],
    dir_: DirOpt = None,
) -> None:
    """Add or update caregivers from JSON (id, station_id, name, sex, skills, shifts …)."""
    import psycopg
    from pydantic import TypeAdapter, ValidationError

    from dispatcher.errors import InvalidProblem
    from dispatcher.records import CaregiverSpec, upsert_caregiver

    try:
        specs = TypeAdapter(list[CaregiverSpec]).validate_python(_load(file, listify=True))
    except ValidationError as exc:
        raise InvalidProblem(f"{file}: {exc}") from exc
    with psycopg.connect(load_settings(dir_).db().conninfo()) as conn:
        for spec in specs:
            upsert_caregiver(conn, spec)
    print(json.dumps({"caregivers": len(specs)}))


def service_plans_add(
    file: Annotated[
        Path, typer.Argument(help="JSON list of {id, resident_id, spec} ('-' for stdin)", allow_dash=True)
    ],
    dir_: DirOpt = None,
) -> None:
    """Add or replace residents' service plans (recurrence, kind, duration, window, skills …)."""
    import psycopg

    from dispatcher.errors import InvalidProblem
    from dispatcher.generate import add_service_plan

    items = _load(file, listify=True)
    with psycopg.connect(load_settings(dir_).db().conninfo()) as conn:
        for i, item in enumerate(items):
            if not isinstance(item, dict) or set(item) != {"id", "resident_id", "spec"}:
                raise InvalidProblem(f"{file}: item {i} must be an object with id, resident_id and spec")
            add_service_plan(conn, str(item["id"]), str(item["resident_id"]), item["spec"])
    print(json.dumps({"service_plans": len(items)}))


def _load(file: Path, *, listify: bool) -> list[Any]:
    import sys

    from dispatcher.errors import InvalidProblem

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidProblem(f"{file}: {exc}") from exc
    return data if isinstance(data, list) or not listify else [data]


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this domain's commands to the top-level app and its benchmarks to ``eldercare bench``."""
    app.command("plan")(plan)
    app.command("planner")(planner)
    caregivers_app.command("add")(caregivers_add)
    service_plans_app.command("add")(service_plans_add)
    app.add_typer(caregivers_app, name="caregivers")
    app.add_typer(service_plans_app, name="service-plans")
    register_bench(bench_app)
