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
