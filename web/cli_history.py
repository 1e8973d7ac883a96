"""``eldercare history import``: a home's past readings into the hypertable, then its resident's baseline."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from web.cli_devices import DirOpt, configure_logging

if TYPE_CHECKING:
    import psycopg

    from devices.types import DeviceKind
    from monitor.history.parse import Parsed
    from monitor.history.store import Placement

FORMATS = ("csv", "casas", "z2m")
history_app = typer.Typer(no_args_is_help=True, help="A home's past readings (history) / 历史数据导入.")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {name!r}", param_hint="--tz") from None


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace", newline="") as fp:
        yield from fp


def import_cmd(
    file: Annotated[Path, typer.Argument(help="the history file", exists=True, dir_okay=False)],
    fmt: Annotated[str, typer.Option("--format", help="csv | casas | z2m (zigbee2mqtt log)")] = "csv",
    home: Annotated[str | None, typer.Option(help="the home (required for casas)")] = None,
    register: Annotated[
        bool, typer.Option(help="casas: register the log's sensors as devices of --home if missing")
    ] = False,
    tz: Annotated[str, typer.Option(help="time zone of times written without an offset")] = "Asia/Shanghai",
    learn: Annotated[bool, typer.Option(help="relearn the residents' baselines afterwards")] = True,
    dir_: DirOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    log_level: Annotated[str, typer.Option()] = "warning",
) -> None:
    """Import readings of any age (COPY; importing twice stores once; bad lines are dead-lettered with
    their line numbers), then relearn each resident's baseline as of the end of the history.
    导入历史读数（可重复导入，不重复存储；错误行连同行号记入死信），然后重新学习老人的作息基线。"""
    import psycopg
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from monitor.history.parse import parse_csv, parse_z2m_log
    from monitor.history.store import import_history, learn_end, registered, relearn_home
    from web.cli_bench import err
    from web.settings import load_settings

    configure_logging(log_level)
    if fmt not in FORMATS:
        raise typer.BadParameter(f"one of {', '.join(FORMATS)}", param_hint="--format")
    if fmt == "casas" and home is None:
        raise typer.BadParameter("a CASAS log is one home's: give --home", param_hint="--home")
    zone = _zone(tz)
    s = load_settings(dir_)
    with psycopg.connect(s.db().conninfo()) as conn:
        if home is not None and conn.execute("SELECT 1 FROM home WHERE id = %s", (home,)).fetchone() is None:
            print(f"history: home {home!r} is not registered / 住户未登记", file=sys.stderr)
            raise typer.Exit(2)
        kinds, by_name, where = registered(conn)
        conn.commit()
        rows: Iterator[Parsed]
        total: int | None = None
        if fmt == "csv":
            rows = parse_csv(_lines(file), devices=kinds, tz=zone)
        elif fmt == "z2m":
            rows = parse_z2m_log(_lines(file), devices=by_name, tz=zone)
        else:
            rows, total, kinds, where = _casas(conn, file, str(home), zone, register=register)
        cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*cols, console=err, disable=not err.is_terminal and as_json) as bar:
            task = bar.add_task(f"importing {file.name} / 导入中", total=total)
            result = import_history(conn, rows, source=file.name, where=where, now=datetime.now(UTC),
                                    on_progress=lambda n: bar.advance(task, n))  # fmt: skip
        learned: dict[str, object] = {}
        at = learn_end(result, wall=datetime.now(UTC))
        if learn and at is not None:
            learned = {h: relearn_home(conn, h, at=at) for h in sorted(result.homes)}
    record = result.as_dict() | {"file": str(file), "format": fmt, "baselines": learned,
                                 "baseline_as_of": at.isoformat() if at else None}  # fmt: skip
    print(f"history: {result.read} readings read, {result.stored} stored, {result.duplicates} already there, "
          f"{result.bad} bad lines dead-lettered / 读数 {result.read} 条，新存 {result.stored} 条，"
          f"错误行 {result.bad} 行", file=sys.stderr)  # fmt: skip
    for issue in result.issues:
        print(f"  {file.name}: {issue}", file=sys.stderr)
    if as_json:
        print(json.dumps(record, ensure_ascii=False))
    if result.read == 0:
        print("history: no readings in the file / 文件中没有可导入的读数", file=sys.stderr)
        raise typer.Exit(1)


def _casas(
    conn: psycopg.Connection, file: Path, home: str, zone: ZoneInfo, *, register: bool
) -> tuple[Iterator[Parsed], int, dict[str, DeviceKind], dict[str, Placement]]:
    """A CASAS log's rows for ``home`` (its sensors registered first with ``register``)."""
    from monitor.history.store import registered
    from simulators.casas import read_casas
    from simulators.errors import ReplayError
    from simulators.station import register_homes
    from web.history_casas import casas_rows

    try:
        log_ = read_casas(file, tz=zone)
        kinds, _, _ = registered(conn)
        result, _ = casas_rows(log_, home_id=home, known=kinds)
    except ReplayError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from None
    if register:
        register_homes(conn, homes=[result.home], station_id=None, where=(29.72, 106.63), seed=0)
        conn.commit()
    kinds, _, where = registered(conn)
    conn.commit()
    _, rows = casas_rows(log_, home_id=home, known=kinds)
    return rows, len(result.readings) + len(log_.issues) + len(result.unfit), kinds, where


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``eldercare history import`` (``bench_app`` gets nothing)."""
    history_app.command("import")(import_cmd)
    app.add_typer(history_app, name="history")
