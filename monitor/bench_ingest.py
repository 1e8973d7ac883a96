"""``eldercare bench ingest``: publishers → Mosquitto → ingest workers → TimescaleDB, against a raw subscriber.

Three phases with the same publishers: (1) a paho subscriber that only counts (the ceiling on this machine),
(2) ingest at full speed (sustained stored/s, nothing lost or doubled), (3) ingest at half that rate for
publish → committed latency. Publishers (monitor.loadpub: raw-socket MQTT v5, each device with its own
credentials) and subscribers run in their own processes. Latency is ``stored_at`` (the row's clock_timestamp
at COPY, a few milliseconds before the commit) minus the payload's ``sent_at``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from devices.settings import DbSettings, MqttSettings
from monitor.loadpub import Device, LoadPubError, LoadSpec, native_motion_payload, publish_load


def make_payload(device_id: str, seq: int, size: int) -> bytes:
    """A native motion reading of about ``size`` bytes; sent_at lets the bench measure latency."""
    return native_motion_payload(device_id, size)(seq, time.time())


def _publish_proc(devices: list[Device], spec: LoadSpec, start_at: float, out: mp.Queue[Any]) -> None:
    try:
        r = publish_load(devices, spec, start_at=start_at)
        out.put((r.acked, r.refused, r.elapsed_s, r.percentile(0.5), r.percentile(0.99), ""))
    except LoadPubError as exc:
        out.put((0, 0, 0.0, None, None, str(exc)))


def raw_subscribe(
    host: str, port: int, user: str, password: str, expected: int, qos: int, out: mp.Queue[Any]
) -> None:
    first = last = 0.0
    count = 0
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal first, last, count
        now = time.monotonic()
        if count == 0:
            first = now
        count += 1
        last = now
        if count >= expected:
            done.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{os.getpid()}", protocol=mqtt.MQTTv5
    )
    client.username_pw_set(user, password)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_a: subscribed.set()
    client.on_connect = lambda c, *_a: c.subscribe("eldercare/v1/devices/+/event", qos=qos)
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    subscribed.wait(10)
    out.put(("ready", 0, 0.0))
    done.wait(300)
    client.loop_stop()
    out.put(("raw", count, last - first))


def _run_publishers(devices: list[Device], spec: LoadSpec, procs: int) -> float:
    """Publish from ``procs`` processes (devices split between them); the slowest one's seconds."""
    ctx = mp.get_context("spawn")
    q: mp.Queue[Any] = ctx.Queue()
    start_at = time.time() + 1.5
    groups = [devices[i::procs] for i in range(min(procs, len(devices)))]
    ps = [ctx.Process(target=_publish_proc, args=(g, spec, start_at, q)) for g in groups]
    for p in ps:
        p.start()
    results = [q.get(timeout=spec.timeout_s + 60) for _ in ps]
    for p in ps:
        p.join()
    errors = [r[5] for r in results if r[5]]
    if errors:
        raise LoadPubError("publisher failed: " + "; ".join(errors))
    refused = sum(r[1] for r in results)
    if refused:
        raise LoadPubError(f"the broker refused {refused} publishes")
    return float(max(r[2] for r in results))


def _stored(conn: psycopg.Connection, device_ids: list[str], lo: int, hi: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM reading WHERE device_id = ANY(%s) AND seq >= %s AND seq < %s",
        (device_ids, lo, hi),
    ).fetchone()
    conn.commit()
    return int(row[0]) if row else 0


@dataclass
class BenchConfig:
    publishers: int = 4
    messages_per_publisher: int = 50_000
    workers: int = 1
    qos: int = 1
    latency_seconds: float = 10.0
    publisher_procs: int = 1  # processes the publishers' connections are spread over
    max_inflight: int = 1000  # per publisher connection (the broker's Receive Maximum caps it)
    batch_size: int = 2000
    batch_age_ms: int = 200


def _raw_phase(ops: MqttSettings, devices: list[Device], cfg: BenchConfig) -> float:
    """Phase 1: the same publishers into a paho subscriber that only counts; its messages per second."""
    total = cfg.messages_per_publisher * len(devices)
    ctx = mp.get_context("spawn")
    q: mp.Queue[Any] = ctx.Queue()
    args = (ops.host, ops.port, ops.username, ops.password.get_secret_value(), total, cfg.qos, q)
    sub = ctx.Process(target=raw_subscribe, args=args)
    sub.start()
    q.get(timeout=30)
    _run_publishers(devices, _spec(ops, cfg, cfg.messages_per_publisher, 1, 0.0), cfg.publisher_procs)
    _, raw_count, raw_elapsed = q.get(timeout=600)
    sub.join()
    return float(raw_count / raw_elapsed) if raw_elapsed > 0 else 0.0


def _spec(ops: MqttSettings, cfg: BenchConfig, count: int, seq_start: int, rate: float) -> LoadSpec:
    return LoadSpec(ops.host, ops.port, count=count, seq_start=seq_start, rate=rate, qos=cfg.qos,
                    max_inflight=cfg.max_inflight, payload_bytes=200)  # fmt: skip


def _start_workers(stack_dir: Path, cfg: BenchConfig) -> list[subprocess.Popen[bytes]]:
    """Ingest workers with sessions fresh for this run (short expiry).

    A worker id used before would still have a persistent session at the broker that queued every earlier
    phase's messages, a backlog the rate phase would drain too. Several workers share the stream (an MQTT v5
    shared subscription); a single one keeps a plain subscription.
    """
    tag = uuid.uuid4().hex[:6]
    group = ["--shared-group", f"bench-{tag}"] if cfg.workers > 1 else []
    base = [sys.executable, "-m", "web.cli", "ingest", "--dir", str(stack_dir), "--session-expiry-s", "60",
            "--log-level", "warning", "--batch-size", str(cfg.batch_size), "--batch-age-ms", str(cfg.batch_age_ms)]  # fmt: skip
    return [
        subprocess.Popen([*base, "--worker-id", f"bench-{tag}-{i}", *group], stdin=subprocess.DEVNULL)
        for i in range(cfg.workers)
    ]


def _wait_stored(
    conn: psycopg.Connection, ids: list[str], lo: int, hi: int, want: int, timeout: float
) -> int:
    deadline = time.monotonic() + timeout
    stored = _stored(conn, ids, lo, hi)
    while stored < want and time.monotonic() < deadline:
        # Each count scans the phase's rows: polling harder would load the database under test.
        time.sleep(0.5)
        stored = _stored(conn, ids, lo, hi)
    return stored


def _one(conn: psycopg.Connection, sql: str, *args: object) -> Any:
    row = conn.execute(sql, args).fetchone()
    conn.commit()
    return row[0] if row else None


def _rate_phase(
    conn: psycopg.Connection, ops: MqttSettings, devices: list[Device], cfg: BenchConfig
) -> dict[str, Any]:
    """Phase 2: full speed through ingest; stored, duplicates, dead letters and the sustained rate."""
    ids = [d.device_id for d in devices]
    n = cfg.messages_per_publisher
    t0 = time.monotonic()
    pub_elapsed = _run_publishers(devices, _spec(ops, cfg, n, 1_000_000, 0.0), cfg.publisher_procs)
    stored = _wait_stored(conn, ids, 1_000_000, 2_000_000, n * len(ids), 120)
    span = _one(conn, "SELECT EXTRACT(EPOCH FROM max(stored_at) - min(stored_at)) FROM reading "
                "WHERE device_id = ANY(%s) AND seq >= 1000000 AND seq < 2000000", ids)  # fmt: skip
    seconds = float(span) if span else time.monotonic() - t0
    dup = _one(conn, "SELECT count(*) FROM (SELECT 1 FROM reading WHERE device_id = ANY(%s) "
               "GROUP BY device_id, seq HAVING count(*) > 1) d", ids)  # fmt: skip
    dead = _one(conn, "SELECT count(*) FROM dead_letter WHERE device_id = ANY(%s)", ids)
    return {"stored": stored, "duplicates_stored": int(dup or 0), "dead_lettered": int(dead or 0),
            "seconds": seconds, "publish_seconds": pub_elapsed}  # fmt: skip


def _latency_phase(
    conn: psycopg.Connection, ops: MqttSettings, devices: list[Device], cfg: BenchConfig, rate: float
) -> list[float]:
    """Phase 3: paced at ``rate`` messages/s in all; publish -> stored latencies in ms."""
    ids = [d.device_id for d in devices]
    each = rate / len(ids)
    count = int(each * cfg.latency_seconds)
    _run_publishers(devices, _spec(ops, cfg, count, 2_000_000, each), cfg.publisher_procs)
    _wait_stored(conn, ids, 2_000_000, 3_000_000, count * len(ids), 30)
    rows = conn.execute(
        "SELECT EXTRACT(EPOCH FROM stored_at) * 1000 - (data->>'sent_at')::float8 * 1000 FROM reading "
        "WHERE device_id = ANY(%s) AND seq >= 2000000",
        (ids,),
    ).fetchall()
    conn.commit()
    return sorted(float(r[0]) for r in rows)


def run_bench(
    db: DbSettings, ops: MqttSettings, creds: dict[str, str], cfg: BenchConfig, stack_dir: Path
) -> dict[str, object]:
    """Run the three phases. ``creds`` maps bench device ids to passwords (already provisioned)."""
    devices = [Device(d, creds[d]) for d in sorted(creds)[: cfg.publishers]]
    published = cfg.messages_per_publisher * len(devices)
    raw_rate = _raw_phase(ops, devices, cfg)
    workers = _start_workers(stack_dir, cfg)
    try:
        time.sleep(3)
        with psycopg.connect(db.conninfo()) as conn:
            r = _rate_phase(conn, ops, devices, cfg)
            stored_rate = r["stored"] / r["seconds"]
            lats = _latency_phase(conn, ops, devices, cfg, stored_rate / 2)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
    return {
        "published": published,
        "stored": r["stored"],
        "duplicates_stored": r["duplicates_stored"],
        "dead_lettered": r["dead_lettered"],
        "lost": published - r["stored"] - r["dead_lettered"],
        "stored_per_s": round(stored_rate, 1),
        "publish_seconds": round(r["publish_seconds"], 2),
        "latency_ms_p50": round(statistics.median(lats), 1) if lats else None,
        "latency_ms_p99": round(lats[max(0, int(len(lats) * 0.99) - 1)], 1) if lats else None,
        "latency_rate_per_s": round(stored_rate / 2, 1),
        "latency_samples": len(lats),
        "raw_subscriber_per_s": round(raw_rate, 1),
        "ratio": round(stored_rate / raw_rate, 3) if raw_rate else None,
        "qos": cfg.qos,
        "publishers": len(devices),
        "publisher_processes": min(cfg.publisher_procs, len(devices)),
        "ingest_workers": cfg.workers,
        "batch_size": cfg.batch_size,
        "batch_age_ms": cfg.batch_age_ms,
        "payload_bytes": len(make_payload(devices[0].device_id, 1_000_000, 200)),
        "seconds": round(r["seconds"], 2),
        "cpu_count": os.cpu_count(),
    }


def main_json(result: dict[str, object]) -> None:
    print(json.dumps(result))
