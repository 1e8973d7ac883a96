"""``eldercare demo``: stack, migrations, seed, every process, live progress, a JSON summary, clean stop."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console

from devices.errors import ConflictError
from web.demo import neighbourhood, seed
from web.demo.bots import DemoBots
from web.demo.supervisor import ProcSpec, Supervisor
from web.settings import load_settings

SUMMARY_SQL: dict[str, str] = {
    "homes": "SELECT count(*) FROM home",
    "readings_stored": "SELECT count(*) FROM reading",
    "alerts_raised": "SELECT count(*) FROM alert",
    "alerts_resolved": "SELECT count(*) FROM alert WHERE status = 'resolved'",
    "plans_made": "SELECT count(*) FROM plan",
    "visits_completed": "SELECT count(*) FROM task WHERE status = 'done'",
    "urgent_replans": "SELECT count(*) FROM plan WHERE reason LIKE 'replan:%%'",
}


@dataclass
class DemoConfig:
    stack_dir: Path
    seconds: float | None
    port: int
    homes_per_station: int
    speed: float
    available: set[str] = field(default_factory=set)  # `eldercare` commands this build has


def summary(conn: psycopg.Connection) -> dict[str, int | None]:
    """The demo's figures; None for a figure whose table does not exist in this build."""
    out: dict[str, int | None] = {}
    for key, sql in SUMMARY_SQL.items():
        table = sql.split(" FROM ")[1].split()[0]
        exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        row = conn.execute(sql).fetchone() if exists and exists[0] else None
        out[key] = int(row[0]) if row else None
    conn.commit()
    return out


def _seed(conn: psycopg.Connection, console: Console, password: str, *, fresh: bool) -> None:
    """Stations and the demo logins; a new stack password (``fresh``) also replaces older demo passwords."""
    created = neighbourhood.seed_stations(conn)
    console.print(f"[green]✓[/] stations: {len(neighbourhood.STATIONS)} ({created} new)")
    try:
        from web.auth.principal import Role
        from web.auth.users import create_user, set_password
    except ImportError:  # the web layer is not in this build
        return
    for username, name, role, stations in neighbourhood.DEMO_USERS:
        try:
            create_user(conn, username=username, name=name, role=Role(role), password=password,
                        station_ids=stations)  # fmt: skip
            conn.commit()
        except ConflictError:
            conn.rollback()
            if fresh:
                set_password(conn, username, password)


def _print_logins(console: Console, cfg: DemoConfig, password: str, *, fresh: bool) -> None:
    """The demo logins; the password only when it was just made (afterwards: where it is kept)."""
    shown = password if fresh else "(see below)"
    for username, name, role, _st in neighbourhood.DEMO_USERS:
        console.print(f"  login {username:14} / {shown}   ({role}: {name})")
    console.print("  caregivers: cg-longxi-1 … (same password) / 护理员账号同一密码")
    if fresh:
        console.print("  this password is shown once / 密码仅显示一次; "
                      f"kept for the demo in {cfg.stack_dir / neighbourhood.PASSWORD_FILE} (mode 600)")  # fmt: skip
    else:
        console.print(
            f"  password / 密码: {cfg.stack_dir / neighbourhood.PASSWORD_FILE} (made on the first run)"
        )


def _plan_today(conn: psycopg.Connection, console: Console) -> None:
    """Service plans for every resident, then today's plan for each station (the planner keeps it current)."""
    from dispatcher.records import DEFAULT_TZ
    from dispatcher.service import plan_day

    day = datetime.now(DEFAULT_TZ).date()
    console.print(f"[green]✓[/] service plans: {seed.service_plans(conn, day)}")
    for st in neighbourhood.STATIONS:
        with console.status(f"planning {st.name} {day}…") as status:
            stored = plan_day(
                conn, st.id, day, time_limit_s=5, progress=status.update, now=datetime.now(DEFAULT_TZ)
            )
        visits = sum(len(r.visits) for r in stored.plan.routes)
        console.print(f"[green]✓[/] plan {st.id}: {visits} visits, {len(stored.plan.unassigned)} unassigned"
                      f" ({stored.plan.status.value})")  # fmt: skip


def _specs(cfg: DemoConfig) -> list[ProcSpec]:
    d = ["--dir", str(cfg.stack_dir)]
    specs = [ProcSpec("ingest", ["ingest", *d, "--metrics-port", "0"], ready=r"connected \(session present")]
    if "rules" in cfg.available:
        specs.append(
            ProcSpec("rules", ["rules", *d, "--clock", "data"], ready=r"rules ready")
        )  # sims run ahead
    if "planner" in cfg.available:
        specs.append(ProcSpec("planner", ["planner", *d], ready=r"planner ready"))
    if "serve" in cfg.available:
        specs.append(
            ProcSpec(
                "api",
                ["serve", *d, "--port", str(cfg.port)],
                ready=r"Uvicorn running|Application startup complete",
            )
        )
    specs.append(ProcSpec("maintain", ["maintain", *d, "--interval-s", "60"]))
    if "simulate" in cfg.available:
        for i, st in enumerate(neighbourhood.STATIONS):
            specs.append(ProcSpec(f"simulate-{st.id}", [
                "simulate", *d, "--provision", "--station", st.id, "--homes", str(cfg.homes_per_station),
                "--speed", str(cfg.speed), "--seed", str(100 + i), "--incidents", "random:0.2",
                "--truth", str(cfg.stack_dir / f"truth-{st.id}.jsonl"),
            ], ready=r"simulate ready"))  # fmt: skip
    return specs


def run_demo(
    cfg: DemoConfig, *, console: Console, on_tick: Callable[[dict[str, int | None]], None] | None = None
) -> dict[str, Any]:
    """Bring everything up, run for ``cfg.seconds`` (or until Ctrl-C), stop everything, return the summary."""
    from web import stack
    from web.db import migrate

    with console.status("starting PostgreSQL+TimescaleDB and Mosquitto…"):
        info = stack.up(cfg.stack_dir)
    console.print(f"[green]✓[/] stack: {info.db_url.split('@')[-1]}  mqtt {info.mqtt_url}")
    settings = load_settings(cfg.stack_dir)
    with console.status("applying migrations…"):
        migrate.upgrade(settings.db())
    console.print("[green]✓[/] migrations")
    stop = {"now": False}

    def on_signal(_s: int, _f: object) -> None:
        stop["now"] = True

    previous = signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    bots: DemoBots | None = None
    try:
        with (
            psycopg.connect(settings.db().conninfo()) as conn,
            Supervisor(cfg.stack_dir / "logs", on_event=lambda m: console.print(f"[green]✓[/] {m}")) as sup,
        ):
            password, fresh = neighbourhood.demo_password(cfg.stack_dir)
            _seed(conn, console, password, fresh=fresh)
            carers = seed.caregivers(conn, [st.id for st in neighbourhood.STATIONS], password, reset=fresh)
            console.print(
                f"[green]✓[/] caregivers: {len(carers)} (each with a phone login, password as below)"
            )
            for spec in _specs(cfg):
                with console.status(f"starting {spec.name}…"):
                    sup.start(spec)
            _plan_today(conn, console)
            if "serve" in cfg.available:
                bots = DemoBots(f"http://127.0.0.1:{cfg.port}", officer=("admin", password),
                                caregivers=carers, password=password, speed=cfg.speed * 3)  # fmt: skip
                bots.start()
            if "serve" in cfg.available:
                console.print(f"\n  dashboard / 社区中心大屏   http://127.0.0.1:{cfg.port}/")
                console.print(f"  caregivers / 护理员手机端  http://127.0.0.1:{cfg.port}/m")
                _print_logins(console, cfg, password, fresh=fresh)
            console.print("  Ctrl-C stops everything.\n")
            while not stop["now"] and (cfg.seconds is None or time.monotonic() - started < cfg.seconds):
                time.sleep(2.0)
                sup.check(restart=True)
                if on_tick is not None:
                    on_tick(summary(conn))
            console.print("stopping…")
            if bots is not None:
                bots.stop.set()
                bots.join(10)
        with psycopg.connect(settings.db().conninfo()) as conn:
            result: dict[str, Any] = dict(summary(conn))
        if bots is not None:
            result["demo_people"] = dict(bots.counts)
    finally:
        signal.signal(signal.SIGINT, previous)
        if info.started:  # leave the servers as we found them
            stack.down(cfg.stack_dir)
            console.print(f"[green]✓[/] stopped {', '.join(info.started)} (data kept in {cfg.stack_dir})")
    result["seconds"] = round(time.monotonic() - started, 1)
    return result
