"""``eldercare bench alerts``: SOS press (``mosquitto_pub``) → alert committed → NOTIFY, under background load.

Background: publisher processes send motion readings for many homes at a target rate through the broker,
with ingest and the rules process both running (as deployed). Probes: every ``probe_interval_s`` an SOS
press from a different home's button, published by the real ``mosquitto_pub`` client; the latency is the
time from starting ``mosquitto_pub`` to this process receiving the NOTIFY of that home's new alert — an
upper bound, since it includes the client's own start-up and connection.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from devices import topics
from monitor import loadpub as lp


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    username: str
    password: str
    device_ids: tuple[str, ...]
    rate: float
    seconds: float


@dataclass
class AlertBenchConfig:
    rate: float = 5000.0
    publishers: int = 2
    seconds: float = 40.0
    warmup_s: float = 8.0
    probes: int = 40
    probe_interval_s: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)


def _connect(spec: LoadSpec) -> tuple[socket.socket, int]:
    """A raw MQTT v5 connection of the ops account; returns it (non-blocking) and the QoS 1 window."""
    sock = socket.create_connection((spec.host, spec.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(lp.encode_connect(client_id=f"bench-load-{os.getpid()}", username=spec.username,
                                   password=spec.password))  # fmt: skip
    buf = bytearray()
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            raise lp.LoadPubError("connection closed before CONNACK")
        buf += chunk
        for first, body in lp.split_packets(buf):
            if first & 0xF0 == lp.CONNACK:
                ack = lp.decode_connack(body)
                if ack.reason_code >= 0x80:
                    raise lp.LoadPubError(f"broker refused the load publisher (0x{ack.reason_code:02x})")
                sock.setblocking(False)
                return sock, min(1000, ack.receive_maximum)


def _load(spec: LoadSpec, start_at: float, out: mp.Queue[Any]) -> None:
    """Publish native motion readings round-robin over ``device_ids`` at ``rate`` for ``seconds``.

    A raw-socket QoS 1 publisher (monitor.loadpub's packets) sending every 2 ms what is due: the same
    messages and pace as a paho publisher at a fraction of its CPU, which the processes under test need.
    """
    sock, window = _connect(spec)
    heads = [lp.publish_header(topics.device_event(d)) for d in spec.device_ids]
    inflight: set[int] = set()
    inbuf, pending = bytearray(), bytearray()
    while time.time() < start_at:
        time.sleep(0.005)
    t0, sent, next_id, n = time.monotonic(), 0, 1, len(heads)
    total, sending_s = int(spec.seconds * spec.rate), spec.seconds
    while (now := time.monotonic()) - t0 < spec.seconds or inflight or pending:
        due = min(int((now - t0) * spec.rate), total) - sent
        parts = []
        stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        for _ in range(max(0, min(due, window - len(inflight)))):
            next_id = lp.free_packet_id(next_id, inflight)
            inflight.add(next_id)
            body = f'{{"ts":"{stamp}","seq":{sent},"kind":"motion","values":{{"occupancy":'
            body += "true}}" if sent % 3 == 0 else "false}}"
            parts.append(lp.encode_publish(heads[sent % n], next_id, body.encode()))
            next_id = next_id % lp.MAX_PACKET_ID + 1
            sent += 1
        pending += b"".join(parts)
        if parts and sent == total:
            sending_s = time.monotonic() - t0  # the last message went out (late if the window was full)
        _pump(sock, pending, inbuf, inflight)
        if now - t0 > spec.seconds + 30:
            break
        time.sleep(0.002)
    sock.close()
    out.put((sent, sending_s))


def _pump(sock: socket.socket, pending: bytearray, inbuf: bytearray, inflight: set[int]) -> None:
    """Write what the socket takes of ``pending``; read PUBACKs and free their packet ids."""
    with contextlib.suppress(BlockingIOError):
        if pending:
            del pending[: sock.send(pending)]
    with contextlib.suppress(BlockingIOError):
        while chunk := sock.recv(65536):
            inbuf += chunk
            if len(chunk) < 65536:
                break
    for first, body in lp.split_packets(inbuf):
        if first & 0xF0 == lp.PUBACK:
            inflight.discard(lp.decode_puback(body)[0])


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    m = re.search(rf"^{name}(?:_total)? ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def _rules_readings(urls: list[str]) -> float:
    """Readings evaluated so far by every rules worker (each its own partition of the homes)."""
    return sum(_metric(url, "eldercare_rules_readings") for url in urls)


class _Listener(threading.Thread):
    """LISTEN live; record when the first alert event of each probe home arrives."""

    def __init__(self, conninfo: str, homes: set[str]) -> None:
        super().__init__(daemon=True)
        self.conninfo, self.homes = conninfo, homes
        self.seen: dict[str, float] = {}
        self.ready, self.stop = threading.Event(), threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("LISTEN live")
            self.ready.set()
            while not self.stop.is_set():
                arrived = [
                    (time.monotonic(), int(n.payload)) for n in conn.notifies(timeout=0.5, stop_after=1)
                ]
                for at, event_id in arrived:
                    row = conn.execute(
                        "SELECT home_id FROM live_event WHERE id = %s AND topic = 'alert'", (event_id,)
                    ).fetchone()
                    if row and row[0] in self.homes and row[0] not in self.seen:
                        self.seen[row[0]] = at


def _pctl(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def run(
    *,
    conninfo: str,
    ops: tuple[str, int, str, str],
    background: list[str],
    probes: dict[str, tuple[str, str]],  # home id -> (sos device id, its password)
    metrics_urls: list[str],
    cfg: AlertBenchConfig,
) -> dict[str, Any]:
    """Run the load and the probes; returns the figures (latencies in ms)."""
    host, port, user, password = ops
    listener = _Listener(conninfo, set(probes))
    listener.start()
    listener.ready.wait(10)
    ctx = mp.get_context("spawn")
    out: mp.Queue[Any] = ctx.Queue()
    share = [tuple(background[i :: cfg.publishers]) for i in range(cfg.publishers)]
    start_at = time.time() + 1.0
    procs = [
        ctx.Process(target=_load, args=(LoadSpec(host, port, user, password, devs, cfg.rate / cfg.publishers,
                                                 cfg.seconds), start_at, out))
        for devs in share
    ]  # fmt: skip
    for p in procs:
        p.start()
    time.sleep(1.0 + cfg.warmup_s)
    rules_before, t_before = _rules_readings(metrics_urls), time.monotonic()
    started: dict[str, float] = {}
    started_wall: dict[str, datetime] = {}
    for home_id, (device, pw) in list(probes.items())[: cfg.probes]:
        stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        msg = json.dumps({"ts": stamp, "seq": 1, "kind": "sos_button", "values": {"action": "sos"}})
        started[home_id] = time.monotonic()
        started_wall[home_id] = datetime.now(UTC)
        subprocess.Popen(
            ["mosquitto_pub", "-h", host, "-p", str(port), "-u", device, "-P", pw, "-q", "1",
             "-i", f"probe-{device}", "-t", topics.device_event(device), "-m", msg],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(cfg.probe_interval_s)
    deadline = time.monotonic() + 10
    while len(listener.seen) < len(started) and time.monotonic() < deadline:
        time.sleep(0.1)
    rules_after, t_after = _rules_readings(metrics_urls), time.monotonic()
    results = [out.get(timeout=cfg.seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    listener.stop.set()
    lat = [(listener.seen[h] - t0) * 1000 for h, t0 in started.items() if h in listener.seen]
    sent = sum(r[0] for r in results)
    with psycopg.connect(conninfo) as conn:
        raised: dict[str, datetime] = dict(
            conn.execute(
                "SELECT home_id, min(raised_at) FROM alert WHERE home_id = ANY(%s) AND kind = 'sos' GROUP BY 1",
                (list(started),),
            ).fetchall()
        )
    to_commit = [(raised[h] - t).total_seconds() * 1000 for h, t in started_wall.items() if h in raised]
    return {
        "latency_ms_p50": _pctl(lat, 0.5),
        "latency_ms_p90": _pctl(lat, 0.9),
        "latency_ms_p99": _pctl(lat, 0.99),
        "latency_ms_max": round(max(lat), 1) if lat else None,
        "latency_ms_mean": round(statistics.fmean(lat), 1) if lat else None,
        "insert_ms_p50": _pctl(to_commit, 0.5),
        "insert_ms_p99": _pctl(to_commit, 0.99),
        "probes_sent": len(started),
        "probes_alerted": len(lat),
        "background_target_per_s": cfg.rate,
        "readings_per_s": round(sent / max(r[1] for r in results), 1),
        "rules_readings_per_s": round((rules_after - rules_before) / (t_after - t_before), 1),
        "background_homes": len(background),
        "conditions": {
            "cpus": os.cpu_count(),
            "load_publisher": "raw-socket MQTT v5 QoS 1 (monitor.loadpub packets), ops account",
            "python": sys.version.split()[0],
            "publishers": cfg.publishers,
            "seconds": cfg.seconds,
            "probe_interval_s": cfg.probe_interval_s,
            "measured_from": "mosquitto_pub start (includes its start-up and connect)",
            **cfg.extra,
        },
    }


def stack_log_tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
