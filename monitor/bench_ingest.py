"""``eldercare bench ingest``: publishers → Mosquitto → ingest workers → TimescaleDB, against a raw subscriber.

Three phases with the same publishers: (1) a paho subscriber that only counts (the ceiling on this machine),
(2) ingest at full speed (sustained stored/s, nothing lost or doubled), (3) ingest at half that rate for
publish → committed latency. Publishers and subscribers run in their own processes.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from devices import topics
from devices.settings import DbSettings, MqttSettings
from devices.telemetry import encode_native
from devices.types import DeviceKind, Reading


@dataclass(frozen=True)
class PublisherSpec:
    host: str
    port: int
    device_id: str
    password: str
    count: int
    seq_start: int
    rate: float  # messages per second for this publisher; 0 = as fast as possible
    qos: int
    max_inflight: int = 1000


def make_payload(device_id: str, seq: int, size: int) -> bytes:
    """A native motion reading of about ``size`` bytes; sent_at lets the bench measure latency."""
    now = datetime.now(UTC)
    values: dict[str, object] = {"occupancy": seq % 2 == 0, "battery": 87, "sent_at": time.time(), "pad": ""}
    base = encode_native(Reading(device_id, now, seq, DeviceKind.MOTION, values))
    values["pad"] = "x" * max(0, size - len(base))
    return encode_native(Reading(device_id, now, seq, DeviceKind.MOTION, values))


def publish(spec: PublisherSpec, start_at: float, result: mp.Queue) -> None:  # type: ignore[type-arg]
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-{spec.device_id}", protocol=mqtt.MQTTv5
    )
    client.username_pw_set(spec.device_id, spec.password)
    client.max_inflight_messages_set(spec.max_inflight)
    client.max_queued_messages_set(0)
    acked = threading.Semaphore(0)
    client.on_publish = lambda *_a: acked.release()
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    client.connect(spec.host, spec.port)
    client.loop_start()
    connected.wait(10)
    topic = topics.device_event(spec.device_id)
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.monotonic()
    in_flight = 0
    for i in range(spec.count):
        if spec.rate:
            due = t0 + i / spec.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        while in_flight >= spec.max_inflight:
            acked.acquire()
            in_flight -= 1
        client.publish(topic, make_payload(spec.device_id, spec.seq_start + i, 200), qos=spec.qos)
        in_flight += 1 if spec.qos else 0
    while in_flight > 0 and acked.acquire(timeout=30):
        in_flight -= 1
    elapsed = time.monotonic() - t0
    client.disconnect()
    client.loop_stop()
    result.put((spec.device_id, spec.count, elapsed))


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


def _run_publishers(specs: list[PublisherSpec]) -> float:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    start_at = time.time() + 1.5
    procs = [ctx.Process(target=publish, args=(s, start_at, q)) for s in specs]
    for p in procs:
        p.start()
    results = [q.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
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


def run_bench(
    db: DbSettings, ops: MqttSettings, creds: dict[str, str], cfg: BenchConfig, stack_dir: Path
) -> dict[str, object]:
    """Run the three phases. ``creds`` maps bench device ids to passwords (already provisioned)."""
    ids = sorted(creds)[: cfg.publishers]
    n = cfg.messages_per_publisher
    specs = [PublisherSpec(ops.host, ops.port, d, creds[d], n, 1, 0, cfg.qos) for d in ids]
    total = n * len(ids)

    # Phase 1: raw subscriber.
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    sub = ctx.Process(
        target=raw_subscribe,
        args=(ops.host, ops.port, ops.username, ops.password.get_secret_value(), total, cfg.qos, q),
    )
    sub.start()
    q.get(timeout=30)
    _run_publishers(specs)
    _, raw_count, raw_elapsed = q.get(timeout=600)
    sub.join()
    raw_rate = raw_count / raw_elapsed if raw_elapsed > 0 else 0.0

    # Phase 2: ingest at full speed (fresh seq range so nothing collides with phase 1, which stored nothing).
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web.cli",
                "ingest",
                "--dir",
                str(stack_dir),
                "--worker-id",
                f"bench-{i}",
                "--log-level",
                "warning",
            ],
            stdin=subprocess.DEVNULL,
        )
        for i in range(cfg.workers)
    ]
    try:
        time.sleep(3)
        with psycopg.connect(db.conninfo()) as conn:
            before = _stored(conn, ids, 1_000_000, 2_000_000)
            specs2 = [PublisherSpec(ops.host, ops.port, d, creds[d], n, 1_000_000, 0, cfg.qos) for d in ids]
            t0 = time.monotonic()
            pub_elapsed = _run_publishers(specs2)
            deadline = time.monotonic() + 120
            stored = before
            while time.monotonic() < deadline:
                stored = _stored(conn, ids, 1_000_000, 2_000_000)
                if stored - before >= total:
                    break
                time.sleep(0.05)
            stored_phase = stored - before
            # Sustained rate: rows over the span between the first and the last commit of the phase.
            span = conn.execute(
                "SELECT EXTRACT(EPOCH FROM max(stored_at) - min(stored_at)) FROM reading "
                "WHERE device_id = ANY(%s) AND seq >= 1000000 AND seq < 2000000",
                (ids,),
            ).fetchone()
            ingest_elapsed = float(span[0]) if span and span[0] else time.monotonic() - t0
            dup = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM reading WHERE device_id = ANY(%s) "
                "GROUP BY device_id, seq HAVING count(*) > 1) d",
                (ids,),
            ).fetchone()
            dead = conn.execute(
                "SELECT count(*) FROM dead_letter WHERE device_id = ANY(%s)", (ids,)
            ).fetchone()
            stored_rate = stored_phase / ingest_elapsed

            # Phase 3: half rate, latency publish -> committed.
            rate_each = stored_rate / 2 / len(ids)
            count_each = int(rate_each * cfg.latency_seconds)
            specs3 = [
                PublisherSpec(ops.host, ops.port, d, creds[d], count_each, 2_000_000, rate_each, cfg.qos)
                for d in ids
            ]
            _run_publishers(specs3)
            time.sleep(2)
            lat = conn.execute(
                "SELECT EXTRACT(EPOCH FROM stored_at) * 1000 - (data->>'sent_at')::float8 * 1000 FROM reading "
                "WHERE device_id = ANY(%s) AND seq >= 2000000",
                (ids,),
            ).fetchall()
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
    lats = sorted(r[0] for r in lat)
    published = total
    dead_n = int(dead[0]) if dead else 0
    return {
        "published": published,
        "stored": stored_phase,
        "duplicates_stored": int(dup[0]) if dup else 0,
        "dead_lettered": dead_n,
        "lost": published - stored_phase - dead_n,
        "stored_per_s": round(stored_rate, 1),
        "publish_seconds": round(pub_elapsed, 2),
        "latency_ms_p50": round(statistics.median(lats), 1) if lats else None,
        "latency_ms_p99": round(lats[int(len(lats) * 0.99) - 1], 1) if lats else None,
        "latency_rate_per_s": round(rate_each * len(ids), 1),
        "latency_samples": len(lats),
        "raw_subscriber_per_s": round(raw_rate, 1),
        "ratio": round(stored_rate / raw_rate, 3) if raw_rate else None,
        "qos": cfg.qos,
        "publishers": len(ids),
        "ingest_workers": cfg.workers,
        "payload_bytes": len(make_payload(ids[0], 1_000_000, 200)),
        "seconds": round(ingest_elapsed, 2),
        "cpu_count": os.cpu_count(),
    }


def main_json(result: dict[str, object]) -> None:
    print(json.dumps(result))
