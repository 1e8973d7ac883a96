"""CLI commands of the web domain (registered on the one ``eldercare`` app by web/cli.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="stack directory (default: $ELDERCARE_STACK_DIR or ./var/stack)", file_okay=False
    ),
]
users_app = typer.Typer(
    no_args_is_help=True, help="Users of the API and dashboards (admin, staff, caregiver, family)."
)


def serve(
    dir_: DirOpt = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the API, the live websocket and the dashboards (one process; run several behind a proxy to scale)."""
    import uvicorn

    from web.api.app import create_app
    from web.settings import load_settings

    settings = load_settings(dir_)
    app = create_app(settings)
    print(f"dashboard  http://{host}:{port}/   caregivers http://{host}:{port}/m", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False)


def _password_from_stdin() -> str | None:
    if sys.stdin is None or sys.stdin.isatty():
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    return line or None


@users_app.command("add")
def users_add(
    role: Annotated[str, typer.Option(help="admin | staff | caregiver | family")],
    name: Annotated[str, typer.Option(help="display name; also the login name unless --username is given")],
    station: Annotated[
        list[str] | None, typer.Option(help="station id (staff, caregiver); repeatable")
    ] = None,
    resident: Annotated[list[str] | None, typer.Option(help="resident id (family); repeatable")] = None,
    username: Annotated[str | None, typer.Option(help="login name (default: --name)")] = None,
    caregiver_id: Annotated[str | None, typer.Option(help="the planner's caregiver id (caregivers)")] = None,
    dir_: DirOpt = None,
) -> None:
    """Create a user. The password is read from stdin when piped, else generated and printed once."""
    import psycopg

    from web.auth import passwords, users
    from web.auth.principal import Role
    from web.settings import load_settings

    try:
        role_ = Role(role)
    except ValueError as exc:
        raise typer.BadParameter(f"role must be one of {', '.join(r.value for r in Role)}") from exc
    given = _password_from_stdin()
    password = given or passwords.generate_password()
    with psycopg.connect(load_settings(dir_).db().conninfo(), autocommit=True) as conn:
        user = users.create_user(
            conn, username=username or name, name=name, role=role_, password=password,
            station_ids=station, resident_ids=resident, caregiver_id=caregiver_id,
        )  # fmt: skip
    print(f"added {user.role} {user.username} (id {user.id})", file=sys.stderr)
    if given is None:
        print(f"password: {password}")
        print("(shown once; it is stored only as an argon2 hash)", file=sys.stderr)


@users_app.command("list")
def users_list(dir_: DirOpt = None) -> None:
    """List users and their scope."""
    import psycopg

    from web.auth import users
    from web.settings import load_settings

    with psycopg.connect(load_settings(dir_).db().conninfo(), autocommit=True) as conn:
        for u in users.list_users(conn):
            scope = ",".join(u.station_ids + u.resident_ids) or "-"
            print(f"{u.id}\t{u.username}\t{u.role}\t{scope}\t{u.name}")


def bench_api(
    dir_: DirOpt = None,
    homes: Annotated[int, typer.Option(help="homes on the map")] = 20_000,
    dashboards: Annotated[int, typer.Option(help="websocket clients for the fan-out")] = 200,
    rounds: Annotated[int, typer.Option(help="requests per load / events for fan-out")] = 30,
    servers: Annotated[
        int, typer.Option(min=1, max=8, help="API processes; dashboards spread over them")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Dashboard initial loads (alert board, map, 7-day chart) p50/p95 and websocket fan-out p50/p99."""
    from web.api.bench import run_bench
    from web.cli_bench import bench_stack

    with bench_stack(dir_) as settings:
        result = run_bench(settings, homes=homes, dashboards=dashboards, rounds=rounds, servers=servers)
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32} {value}")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this domain's commands to the top-level app and its benchmarks to ``eldercare bench``."""
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
    bench_app.command("api")(bench_api)
