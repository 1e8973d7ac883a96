"""``eldercare``: the one command line that starts every process of the platform."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from devices.errors import EldercareError
from web import (
    cli_bench,
    cli_devices,
    cli_dispatch,
    cli_eval,
    cli_history,
    cli_monitor,
    cli_simulate,
    cli_web,
)
from web.cli_devices import devices_app
from web.settings import load_settings
from web.stack import StackError, StackInfo

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Eldercare dispatch & IoT monitoring / 居家养老监护与派单平台")  # fmt: skip
stack_app = typer.Typer(
    no_args_is_help=True, help="Private PostgreSQL+TimescaleDB and Mosquitto on loopback."
)
db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")
bench_app = typer.Typer(
    no_args_is_help=True, help="Benchmarks: each prints one JSON object with its figures."
)
app.add_typer(stack_app, name="stack")
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")
app.add_typer(devices_app, name="devices")
app.command("ingest")(cli_devices.ingest)
app.command("maintain")(cli_devices.maintain)
bench_app.command("ingest")(cli_bench.bench_ingest)
bench_app.command("faults")(cli_bench.bench_faults)
for _domain in (cli_monitor, cli_eval, cli_history, cli_dispatch, cli_simulate, cli_web):
    _domain.register(app, bench_app)

DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="stack directory (default: $ELDERCARE_STACK_DIR or ./var/stack)", file_okay=False
    ),
]


def _stack_dir(dir_: Path | None) -> Path:
    return load_settings(dir_).stack_dir


def _print_info(info: StackInfo, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in vars(info).items()}))
        return
    print(f"stack      {info.dir}")
    print(f"postgresql {info.db_url}  [{'running' if info.pg_running else 'stopped'}] {info.pg_health}")
    print(f"mosquitto  {info.mqtt_url}  [{'running' if info.mqtt_running else 'stopped'}] {info.mqtt_health}")
    for e in info.edges:
        print(f"  {e['name']:8} {e['url']}  [{'running' if e['running'] else 'stopped'}] {e['health']}")
    print(f"settings   {info.dir / 'stack.env'}")


@stack_app.command("up")
def stack_up(
    dir_: DirOpt = None,
    pg_port: Annotated[int, typer.Option(min=0, max=65535, help="PostgreSQL port (0: a free one)")] = 0,
    mqtt_port: Annotated[int, typer.Option(min=0, max=65535, help="Mosquitto port (0: a free one)")] = 0,
    edge_brokers: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=64,
            help="edge brokers bridged to the core, ~19,000 connections each "
            "(default: as many as the stack has, 0 for a new stack)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print status as JSON")] = False,
) -> None:
    """Start (or keep running) the private servers. Idempotent."""
    from web import stack

    info = stack.up(_stack_dir(dir_), pg_port=pg_port, mqtt_port=mqtt_port, edge_brokers=edge_brokers)
    if not as_json:
        print("started: " + (", ".join(info.started) or "nothing (already running)"), file=sys.stderr)
    _print_info(info, as_json=as_json)
    if not info.healthy:
        raise typer.Exit(1)


@stack_app.command("down")
def stack_down(dir_: DirOpt = None) -> None:
    """Stop the servers that `stack up` started in this directory (data is kept)."""
    from web import stack

    stopped = stack.down(_stack_dir(dir_))
    print("stopped: " + (", ".join(stopped) or "nothing was running"))


@stack_app.command("status")
def stack_status(
    dir_: DirOpt = None, as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False
) -> None:
    """Both servers' URLs and health; exit 1 unless both are healthy."""
    from web import stack

    info = stack.status(_stack_dir(dir_))
    _print_info(info, as_json=as_json)
    if not info.healthy:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(dir_: DirOpt = None, revision: Annotated[str, typer.Argument()] = "heads") -> None:
    """Apply migrations up to REVISION (default: head). Running it twice is a no-op."""
    from web.db import migrate

    db = load_settings(dir_).db()
    migrate.upgrade(db, revision)
    print(f"database at {migrate.current(db) or 'base'}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, e.g. -1 or base")], dir_: DirOpt = None
) -> None:
    """Revert migrations down to REVISION."""
    from web.db import migrate

    db = load_settings(dir_).db()
    migrate.downgrade(db, revision)
    print(f"database at {migrate.current(db) or 'base'}")


@db_app.command("current")
def db_current(dir_: DirOpt = None) -> None:
    """Print the current revision."""
    from web.db import migrate

    print(migrate.current(load_settings(dir_).db()) or "base")


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="dump file to write (pg_dump custom format)")],
    dir_: DirOpt = None,
) -> None:
    """Dump the whole database, readings included (restore with `eldercare db restore`)."""
    from web.db import backup

    if file.exists():
        raise typer.BadParameter(f"{file} exists; choose a new file name")
    size = backup.backup(load_settings(dir_).db().conninfo(), file)
    print(f"wrote {file} ({size / 1e6:.1f} MB)")


@db_app.command("restore")
def db_restore(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="a dump from `eldercare db backup`")
    ],
    target_db: Annotated[str, typer.Option(help="name of the NEW database to restore into")],
    dir_: DirOpt = None,
) -> None:
    """Restore a dump into a new database (needs the admin URL, ELDERCARE_DB_ADMIN_URL or the stack's)."""
    from psycopg.conninfo import conninfo_to_dict

    from web.db import backup

    s = load_settings(dir_)
    if s.db_admin_url is None:
        raise typer.BadParameter("no admin database URL: set ELDERCARE_DB_ADMIN_URL")
    owner = str(conninfo_to_dict(s.db().conninfo()).get("user", "eldercare"))
    backup.restore(s.db_admin_url.get_secret_value(), file, target_db=target_db, owner=owner)
    print(f"restored {file} into database {target_db}")


@app.command("demo")
def demo(
    dir_: DirOpt = None,
    seconds: Annotated[
        float | None, typer.Option(min=5, help="stop after this many seconds (default: Ctrl-C)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="end by printing one JSON summary on stdout")
    ] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="API and dashboards port")] = 8000,
    homes_per_station: Annotated[int, typer.Option(min=1, max=5000)] = 100,
    speed: Annotated[float, typer.Option(min=1, max=10000, help="simulated seconds per real second")] = 60,
) -> None:
    """The platform on this machine: private stack, demo neighbourhood, simulators, ingest, rules, planner, API."""
    from rich.console import Console

    from web.demo.run import DemoConfig, run_demo

    names = {
        c.name or (c.callback.__name__.replace("_", "-") if c.callback else "")
        for c in app.registered_commands
    }
    cfg = DemoConfig(_stack_dir(dir_), seconds, port, homes_per_station, speed, available=names)
    result = run_demo(cfg, console=Console(stderr=True))
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:18} {value}")


@app.command("config")
def show_config(
    dir_: DirOpt = None,
    reference: Annotated[
        bool, typer.Option("--reference", help="print the reference (Markdown) instead")
    ] = False,
) -> None:
    """Print the effective settings, secrets redacted."""
    if reference:
        from web.settings import reference_markdown

        print(reference_markdown(), end="")
        return
    for name, value in load_settings(dir_).model_dump(mode="json").items():
        shown = "***" if "password" in name or (name.endswith("_url") and value) else value
        print(f"{name} = {shown}")


# Typer's usage errors (its own click, vendored or not) all derive from this class.
_USAGE_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error ends in one line on stderr and a non-zero exit, never a traceback."""
    try:
        # Without standalone mode, typer.Exit comes back as a return value (the exit code).
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc != 0:
            sys.exit(rc)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _USAGE_ERROR as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            print(ctx.get_help())
            sys.exit(0)
        cmd = ctx.command_path if ctx is not None else "eldercare"
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"error: {message} (see `{cmd} --help`)", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except (StackError, EldercareError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except RuntimeError as exc:  # configuration problems raised by settings
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
