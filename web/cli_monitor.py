"""CLI commands of the monitor domain (registered on the one ``eldercare`` app by web/cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from devices.settings import MqttSettings
from web.cli_devices import DirOpt, MetricsPortOpt, configure_logging
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
    partition: Annotated[
        str,
        typer.Option(
            help="i/N: evaluate only the homes with crc32(home id) % N == i (run N workers, distinct ids)"
        ),
    ] = "0/1",
    urgent_lane: Annotated[
        bool,
        typer.Option(
            "--urgent-lane/--no-urgent-lane",
            help="a second broker session for SOS, fall, smoke, gas and leak devices (ahead of any backlog)",
        ),
    ] = True,
    log_level: Annotated[str, typer.Option()] = "info",
    metrics_port: MetricsPortOpt = None,
) -> None:
    """The rules process: readings → rule engine → alerts, escalation and notifications."""
    from devices.errors import ValidationFailed
    from monitor.ingest.pipeline import SkewLimits
    from monitor.runner.partition import Partition
    from monitor.runner.run import run
    from monitor.runner.worker import RulesConfig

    if clock not in ("wall", "data"):
        raise typer.BadParameter("must be wall or data", param_hint="--clock")
    try:
        part = Partition.parse(partition)
    except ValidationFailed as exc:
        raise typer.BadParameter(exc.message, param_hint="--partition") from None
    configure_logging(log_level)
    s = load_settings(dir_)
    cfg = RulesConfig(
        worker_id=worker_id,
        session_expiry_s=session_expiry_s,
        clock=clock,
        tick_s=tick_s,
        holdoff=timedelta(minutes=holdoff_min),
        skew=SkewLimits(past=timedelta(hours=max_past_hours), future=timedelta(seconds=max_future_s)),
        notify=s.notify(),
        partition=part,
        urgent_lane=urgent_lane,
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
        allowlist = load_settings(dir_).notify().webhook_allowlist  # URL recipients must be on it
        policy = save_policy(conn, station, data, actor="cli", webhook_allowlist=allowlist)
    print(f"escalation ladder for {station}: {len(policy.steps)} steps saved")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _bench_homes(
    conninfo: str, broker: MqttSettings, n_background: int, n_probes: int
) -> tuple[list[str], dict[str, tuple[str, str]]]:
    import uuid

    import psycopg

    from devices import provisioning, registry
    from devices.types import DeviceKind, Room

    tag = uuid.uuid4().hex[:6]
    station = f"bench-st-{tag}"
    background: list[str] = []
    sos: dict[str, str] = {}
    with psycopg.connect(conninfo) as conn:
        registry.add_station(conn, id=station, name="压测站 bench", lat=29.72, lon=106.63)
        for i in range(n_background + n_probes):
            home = f"bench-{tag}-h{i}"
            registry.add_home(conn, id=home, station_id=station, address=f"bench {i}", lat=29.72, lon=106.63)
            registry.add_resident(conn, id=f"bench-{tag}-r{i}", home_id=home, name=f"bench {i}")
            if i < n_background:
                device = f"bench-{tag}-m{i}"
                registry.add_device(
                    conn, id=device, home_id=home, kind=DeviceKind.MOTION, room=Room.LIVING_ROOM
                )
                background.append(device)
            else:
                device = f"bench-{tag}-s{i}"
                registry.add_device(
                    conn, id=device, home_id=home, kind=DeviceKind.SOS_BUTTON, room=Room.BEDROOM
                )
                sos[home] = device
        creds = provisioning.provision_many(conn, device_ids=list(sos.values()), broker=broker)
    passwords = {c.device_id: c.password for c in creds}
    return background, {home: (device, passwords[device]) for home, device in sos.items()}


def bench_alerts(
    dir_: Annotated[
        Path | None, typer.Option("--dir", help="use this stack (default: a temporary one)")
    ] = None,
    rate: Annotated[float, typer.Option(min=0, max=100_000, help="background readings per second")] = 5000,
    homes: Annotated[int, typer.Option(min=1, max=100_000, help="background homes")] = 1000,
    probes: Annotated[int, typer.Option(min=5, max=1000, help="SOS presses (one per home)")] = 40,
    seconds: Annotated[float, typer.Option(min=10, max=3600, help="background load duration")] = 40,
    with_ingest: Annotated[
        bool, typer.Option("--ingest/--no-ingest", help="run ingest too (as deployed)")
    ] = True,
    partitions: Annotated[
        int, typer.Option(min=1, max=16, help="rules worker processes, one per partition of the homes")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """SOS (mosquitto_pub) → alert committed → NOTIFY latency under background load, ingest and rules running."""
    import shutil

    from monitor import bench_alerts as bench
    from web.cli_bench import bench_stack, err, wait_for_log

    if shutil.which("mosquitto_pub") is None:
        raise typer.BadParameter("mosquitto_pub is not installed (Debian package mosquitto-clients)")
    extra = {"ingest_running": with_ingest, "ingest_workers": int(with_ingest), "rules_workers": partitions,
             "rules_partitions": partitions}  # fmt: skip
    cfg = bench.AlertBenchConfig(rate=rate, seconds=seconds, probes=probes, extra=extra)
    cfg.probe_interval_s = min(0.5, max(0.1, (seconds - cfg.warmup_s - 8) / probes))
    with bench_stack(dir_) as s:
        conninfo = s.db().conninfo()
        with err.status(f"registering {homes} background homes and {probes} SOS buttons"):
            background, sos = _bench_homes(conninfo, s.mqtt(), homes, probes)
        ports = [_free_port() for _ in range(partitions)]
        logs = s.stack_dir / "bench-alerts"
        logs.mkdir(exist_ok=True)
        base = [sys.executable, "-m", "web.cli"]
        procs = {
            f"rules-{i}": [*base, "rules", "--dir", str(s.stack_dir), "--worker-id", f"bench-alerts-p{i}",
                           "--session-expiry-s", "0", "--partition", f"{i}/{partitions}", "--metrics-port", str(port)]
            for i, port in enumerate(ports)
        }  # fmt: skip
        if with_ingest:
            procs["ingest"] = [*base, "ingest", "--dir", str(s.stack_dir), "--worker-id", "bench-alerts",
                               "--session-expiry-s", "0"]  # fmt: skip
        running = {n: subprocess.Popen(a, stderr=(logs / f"{n}.log").open("wb")) for n, a in procs.items()}
        try:
            for i in range(partitions):
                wait_for_log(logs / f"rules-{i}.log", "rules ready", running[f"rules-{i}"])
            if with_ingest:
                wait_for_log(logs / "ingest.log", "connected", running["ingest"])
            ops = s.mqtt(ops=True)
            with err.status(f"{rate:.0f} readings/s for {seconds:.0f} s, {probes} SOS presses"):
                result = bench.run(
                    conninfo=conninfo,
                    ops=(ops.host, ops.port, ops.username, ops.password.get_secret_value()),
                    background=background, probes=sos, cfg=cfg,
                    metrics_urls=[f"http://127.0.0.1:{port}/metrics" for port in ports],
                )  # fmt: skip
        finally:
            for p in running.values():
                p.terminate()
            for p in running.values():
                p.wait(60)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for k, v in result.items():
            print(f"{k:26} {v}")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this domain's commands to the top-level app and its benchmarks to ``eldercare bench``."""
    app.command("rules")(rules)
    escalation_app.command("show")(escalation_show)
    escalation_app.command("set")(escalation_set)
    app.add_typer(escalation_app, name="escalation")
    bench_app.command("alerts")(bench_alerts)
