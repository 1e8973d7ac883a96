"""``eldercare bench …``: benchmarks against a private stack (a temporary one unless --dir is given)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console

from devices import provisioning, registry
from devices.types import DeviceKind, Room
from web import stack
from web.db import migrate
from web.settings import Settings, load_settings

err = Console(stderr=True)


def wait_for_log(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait until ``text`` appears in a child process's log; RuntimeError (with the log's tail) if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{log.stem} exited: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"{log.stem} not ready after {timeout:.0f} s")


@contextlib.contextmanager
def bench_stack(dir_: Path | None) -> Iterator[Settings]:
    """The given stack, or a private temporary one that is torn down afterwards."""
    if dir_ is not None:
        stack.up(dir_)
        settings = load_settings(dir_)
        migrate.upgrade(settings.db())
        yield settings
        return
    root = Path(tempfile.mkdtemp(prefix="eldercare-bench-", dir="/tmp"))
    try:
        with err.status("starting a private PostgreSQL+TimescaleDB and Mosquitto"):
            stack.up(root)
            settings = load_settings(root)
            migrate.upgrade(settings.db())
        yield settings
    finally:
        with contextlib.suppress(stack.StackError):
            stack.down(root)
        shutil.rmtree(root, ignore_errors=True)


def _bench_devices(settings: Settings, n: int) -> dict[str, str]:
    tag = uuid.uuid4().hex[:6]
    with psycopg.connect(settings.db().conninfo()) as conn:
        registry.add_station(conn, id=f"bench-st-{tag}", name="bench", lat=29.72, lon=106.63)
        registry.add_home(
            conn, id=f"bench-h-{tag}", station_id=f"bench-st-{tag}", address="bench", lat=29.72, lon=106.63
        )
        ids = [f"bench-{tag}-{i}" for i in range(n)]
        for d in ids:
            registry.add_device(
                conn, id=d, home_id=f"bench-h-{tag}", kind=DeviceKind.MOTION, room=Room.LIVING_ROOM
            )
        creds = provisioning.provision_many(conn, device_ids=ids, broker=settings.mqtt())
    return {c.device_id: c.password for c in creds}


def bench_ingest(
    dir_: Annotated[
        Path | None, typer.Option("--dir", help="use this stack (default: a temporary one)")
    ] = None,
    publishers: Annotated[int, typer.Option(min=1, max=64)] = 4,
    messages: Annotated[int, typer.Option(min=100, help="messages per publisher")] = 50_000,
    workers: Annotated[int, typer.Option(min=1, max=16, help="ingest worker processes")] = 1,
    qos: Annotated[int, typer.Option(min=0, max=1)] = 1,
    latency_seconds: Annotated[float, typer.Option(min=1)] = 10.0,
    publisher_processes: Annotated[
        int, typer.Option(min=1, max=16, help="processes the publishers' connections are spread over")
    ] = 1,
    max_inflight: Annotated[int, typer.Option(min=1, max=65535, help="QoS 1 window per publisher")] = 1000,
    batch_size: Annotated[int, typer.Option(min=1, max=50000, help="ingest batch size")] = 2000,
    batch_age_ms: Annotated[int, typer.Option(min=1, max=10000, help="ingest batch age")] = 200,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ingest throughput, loss, duplicates and latency against a raw paho subscriber, in one run.

    The publishers are monitor.loadpub (raw-socket MQTT v5, each device with its own credentials).
    """
    from monitor.bench_ingest import BenchConfig, run_bench

    cfg = BenchConfig(
        publishers,
        messages,
        workers,
        qos,
        latency_seconds,
        publisher_processes,
        max_inflight,
        batch_size,
        batch_age_ms,
    )
    with bench_stack(dir_) as settings:
        creds = _bench_devices(settings, publishers)
        with err.status(
            f"benchmarking: {publishers} publishers × {messages} messages, {workers} ingest worker(s)"
        ):
            result = run_bench(settings.db(), settings.mqtt(ops=True), creds, cfg, settings.stack_dir)
    if as_json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:24} {v}")


def _parse_faults(value: str) -> tuple[str, ...]:
    from web.bench_faults import FAULTS

    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in FAULTS]
    if not names or unknown:
        raise typer.BadParameter(
            f"unknown fault {', '.join(map(repr, unknown))}; choose from {','.join(FAULTS)}"
            if unknown
            else f"name at least one of {','.join(FAULTS)}",
            param_hint="--faults",
        )
    if len(set(names)) != len(names):
        raise typer.BadParameter("a fault is named twice", param_hint="--faults")
    return tuple(names)


def bench_faults(
    dir_: Annotated[
        Path | None,
        typer.Option("--dir", help="use this stack (default: a temporary one, removed afterwards)"),
    ] = None,
    homes: Annotated[int, typer.Option(min=1, max=5000, help="homes, each with an SOS button")] = 50,
    rate: Annotated[
        float, typer.Option(min=1, max=5000, help="background readings per second (one paho client)")
    ] = 200,
    sos_every_s: Annotated[float, typer.Option(min=0.2, max=60, help="seconds between SOS presses")] = 2.0,
    settle_s: Annotated[float, typer.Option(min=0, max=600, help="quiet period before each fault")] = 5.0,
    down_s: Annotated[
        float, typer.Option(min=0, max=60, help="how long a killed process or stopped server stays down")
    ] = 1.5,
    faults: Annotated[
        str,
        typer.Option(help="comma list of ingest,rules,planner,api,broker,postgres (default: all, in order)"),
    ] = "ingest,rules,planner,api,broker,postgres",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Fault drills: kill -9 each process, restart the broker and PostgreSQL, under a steady load and SOS
    presses; readings lost, SOS alerts missed and the worst SOS → alert delay during each fault."""
    from web.bench_faults import DrillConfig, run_drill

    cfg = DrillConfig(homes=homes, rate=rate, sos_every_s=sos_every_s, settle_s=settle_s, down_s=down_s,
                      faults=_parse_faults(faults))  # fmt: skip
    with bench_stack(dir_) as settings:
        result = run_drill(settings, cfg, say=lambda m: err.print(f"  {m}"))
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(
        f"{'fault':10} {'presses':>7} {'missed':>6} {'sos→alert max ms':>17} {'back s':>7} {'recovered s':>11}  crashed"
    )
    for name, f in result["faults"].items():
        print(f"{name:10} {f['sos_pressed']:>7} {f['sos_missed']:>6} {f['sos_to_alert_ms_max']!s:>17} "
              f"{f['back_s']!s:>7} {f['recovered_s']!s:>11}  {', '.join(f['crashed'])}")  # fmt: skip
    print(f"readings: published {result['readings_published']}, acked {result['readings_acked']}, "
          f"stored {result['readings_stored']}, lost {result['readings_lost']}")  # fmt: skip
    print(f"SOS: pressed {result['sos_pressed']}, alerted {result['sos_alerted']}, missed {result['sos_missed']}, "
          f"calm p50 {result['calm']['sos_to_alert_ms_p50']} ms")  # fmt: skip
