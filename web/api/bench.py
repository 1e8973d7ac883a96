"""``eldercare bench api``: dashboard initial-load latency and websocket fan-out latency against a real server."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from websockets.asyncio.client import connect

from monitor import live
from web.auth import users
from web.auth.principal import Role
from web.settings import Settings
from web.stack.proc import free_port


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else float("nan")


def seed(conn: psycopg.Connection[Any], *, tag: str, homes: int) -> dict[str, str]:
    """A station with ``homes`` homes, one of them with 7 days of 5-minute readings, and an admin."""
    station, home = f"bench-{tag}", f"bench-{tag}-00000"
    with conn.transaction():
        conn.execute("INSERT INTO station (id, name, lat, lon) VALUES (%s, 'bench', 29.7, 106.6)", (station,))
        conn.execute(
            "INSERT INTO home (id, station_id, address, lat, lon) SELECT %s || '-' || lpad(i::text, 5, '0'), %s, "
            "'bench ' || i, 29.6 + (i %% 200) * 0.001, 106.5 + (i / 200) * 0.001 FROM generate_series(0, %s) i",
            (station, station, homes - 1),
        )
        conn.execute("INSERT INTO resident (id, home_id, name) VALUES (%s, %s, 'bench')", (f"r-{tag}", home))
        conn.execute(
            "INSERT INTO reading (time, device_id, seq, kind, home_id, room, data) SELECT t, %s, "
            "extract(epoch FROM t)::bigint, 'temperature', %s, 'bedroom', "
            "jsonb_build_object('temperature', 20 + random() * 5) "
            "FROM generate_series(now() - interval '7 days', now(), interval '5 minutes') t",
            (f"bench-t-{tag}", home),
        )
    password = secrets.token_urlsafe(16)  # random per run: the bench's login is no known default
    users.create_user(conn, username=f"bench-admin-{tag}", name="bench", role=Role.ADMIN, password=password)
    return {"station": station, "home": home, "admin": f"bench-admin-{tag}", "password": password}


@contextmanager
def server(settings: Settings) -> Iterator[str]:
    """`eldercare serve` as a real process (its log in a temporary file); yields its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "web.cli", "serve", "--dir", str(settings.stack_dir), "--port", str(port),
           "--log-level", "warning"]  # fmt: skip
    log = tempfile.NamedTemporaryFile(prefix="eldercare-serve-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(base + "/api/me", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise RuntimeError(Path(log.name).read_text(errors="replace")[-2000:]) from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def loads(base: str, token: str, paths: dict[str, str], rounds: int) -> dict[str, float]:
    """p50/p95 (ms) of each named GET, after one warm-up each."""
    out: dict[str, float] = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for name, path in paths.items():
            client.get(path).raise_for_status()
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                client.get(path).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
            out[f"{name}_p50_ms"], out[f"{name}_p95_ms"] = _pct(times, 0.5), _pct(times, 0.95)
    return out


async def _client(url: str, token: str, ready: asyncio.Event, n: int, latencies: list[float]) -> None:
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_queue=None) as ws:
        while json.loads(await ws.recv())["type"] != "live":
            pass
        ready.set()
        got = 0
        while got < n:
            msg = json.loads(await ws.recv())
            if msg.get("topic") == "device_health" and "bench_t" in (msg.get("body") or {}):
                latencies.append((time.time() - msg["body"]["bench_t"]) * 1000)
                got += 1


async def fanout(
    settings: Settings, bases: list[str], token: str, *, dashboards: int, events: int
) -> dict[str, Any]:
    """Connect ``dashboards`` websockets spread over the API processes at ``bases``, publish ``events``
    events, measure commit-to-receipt latency (overall and per process)."""
    per: list[list[float]] = [[] for _ in bases]
    readies = [asyncio.Event() for _ in range(dashboards)]
    tasks = [
        asyncio.create_task(
            _client(
                bases[i % len(bases)].replace("http://", "ws://") + "/ws/live",
                token,
                r,
                events,
                per[i % len(bases)],
            )
        )
        for i, r in enumerate(readies)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    with psycopg.connect(settings.db().conninfo()) as conn:
        for i in range(events):
            live.publish(conn, topic="device_health", subject_id=f"bench-{i}", body={"bench_t": time.time()})
            conn.commit()
            await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    latencies = [x for p in per for x in p]
    out: dict[str, Any] = {"fanout_p50_ms": _pct(latencies, 0.5), "fanout_p99_ms": _pct(latencies, 0.99),
                           "fanout_deliveries": len(latencies)}  # fmt: skip
    if len(bases) > 1:
        out["fanout_per_process"] = [
            {"deliveries": len(p), "p50_ms": _pct(p, 0.5), "p99_ms": _pct(p, 0.99)} for p in per
        ]
    return out


def run_bench(
    settings: Settings, *, homes: int, dashboards: int, rounds: int, servers: int = 1
) -> dict[str, Any]:
    """Seed, start ``servers`` API processes, measure; returns the figures with their conditions."""
    tag = uuid.uuid4().hex[:6]
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        ids = seed(conn, tag=tag, homes=homes)
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(server(settings)) for _ in range(servers)]
        login = httpx.post(
            bases[0] + "/api/auth/login", json={"username": ids["admin"], "password": ids["password"]}
        )
        token = login.raise_for_status().json()["access_token"]
        paths = {
            "map": "/api/map",
            "home_chart_7d": f"/api/homes/{ids['home']}/readings?metric=temperature&hours=168&bucket_minutes=60",
            "home_page": f"/api/homes/{ids['home']}",
            "device_health_board": "/api/device-health?problems_only=true",
        }
        result: dict[str, Any] = loads(bases[0], token, paths, rounds)
        # in its own thread: the caller may already run an event loop (e.g. a test session with a browser)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            result |= pool.submit(
                asyncio.run, fanout(settings, bases, token, dashboards=dashboards, events=rounds)
            ).result()
    return result | {"homes": homes, "dashboards": dashboards, "rounds": rounds, "server_processes": servers,
                     "cpus": len(os.sched_getaffinity(0))}  # fmt: skip
