"""CLI commands of the monitor domain (registered on the one ``eldercare`` app by web/cli.py)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from web.cli_devices import DirOpt, configure_logging
from web.settings import load_settings

escalation_app = typer.Typer(no_args_is_help=True, help="Escalation ladders per station.")


def rules(
    dir_: DirOpt = None,
    worker_id: Annotated[str, typer.Option(help="its MQTT client id is rules-<id> (keep it stable)")] = "1",
    session_expiry_s: Annotated[int, typer.Option(min=0, help="broker keeps the session while away")] = 86400,
    clock: Annotated[
        str,
        typer.Option(
            help="wall: now is the wall clock; data: the latest reading's time (replays, evaluation)"
        ),
    ] = "wall",
    tick_s: Annotated[float, typer.Option(min=0.5, max=600, help="seconds between clock ticks")] = 15.0,
    holdoff_min: Annotated[float, typer.Option(min=0, help="anti-flap hold-off in minutes")] = 10.0,
    max_past_hours: Annotated[float, typer.Option(min=0, help="older readings are ignored")] = 24 * 7,
    max_future_s: Annotated[float, typer.Option(min=0, help="readings further ahead are ignored")] = 300,
    log_level: Annotated[str, typer.Option()] = "info",
    metrics_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="serve /healthz /readyz /metrics here (0: a free port)"),
    ] = None,
) -> None:
    """The rules process: readings → rule engine → alerts, escalation and notifications."""
    from monitor.ingest.pipeline import SkewLimits
    from monitor.runner.run import run
    from monitor.runner.worker import RulesConfig

    if clock not in ("wall", "data"):
        raise typer.BadParameter("must be wall or data", param_hint="--clock")
    configure_logging(log_level)
    s = load_settings(dir_)
    cfg = RulesConfig(
        worker_id=worker_id,
        session_expiry_s=session_expiry_s,
        clock=clock,
        tick_s=tick_s,
        holdoff=timedelta(minutes=holdoff_min),
        spool_dir=s.stack_dir / "spool",
        skew=SkewLimits(past=timedelta(hours=max_past_hours), future=timedelta(seconds=max_future_s)),
        notify=s.notify(),
    )
    run(s.mqtt(), s.db(), cfg, metrics_port=metrics_port)


def escalation_show(
    dir_: DirOpt = None, station: Annotated[str, typer.Option(help="station id or *")] = "*"
) -> None:
    """Print a station's escalation ladder (JSON)."""
    import psycopg

    from monitor.alerts.escalation import policy_for

    with psycopg.connect(load_settings(dir_).db().conninfo()) as conn:
        print(json.dumps(policy_for(conn, station).model_dump(mode="json"), ensure_ascii=False, indent=2))


def escalation_set(
    file: Annotated[
        Path, typer.Argument(help="JSON file: {\"steps\": [...]} ('-' for stdin)", allow_dash=True)
    ],
    dir_: DirOpt = None,
    station: Annotated[str, typer.Option(help="station id, or * for the default ladder")] = "*",
) -> None:
    """Validate and store a station's escalation ladder."""
    import psycopg

    from monitor.alerts.escalation import save_policy

    text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="FILE") from None
    with psycopg.connect(load_settings(dir_).db().conninfo()) as conn:
        if (
            station != "*"
            and conn.execute("SELECT 1 FROM station WHERE id = %s", (station,)).fetchone() is None
        ):
            raise typer.BadParameter(f"no station {station!r}", param_hint="--station")
        policy = save_policy(conn, station, data, actor="cli")
    print(f"escalation ladder for {station}: {len(policy.steps)} steps saved")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this domain's commands to the top-level app and its benchmarks to ``eldercare bench``."""
    app.command("rules")(rules)
    escalation_app.command("show")(escalation_show)
    escalation_app.command("set")(escalation_set)
    app.add_typer(escalation_app, name="escalation")
