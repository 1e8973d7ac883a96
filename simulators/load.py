"""Many simulated homes in several processes: each process drives its share on one network loop, the parent
aggregates their counters for a live display and a final record (message rate, publish lag, CPU)."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path
from typing import Any

from simulators.clock import SimClock
from simulators.engine import HomeSim
from simulators.home import Home
from simulators.incidents import jsonl_writer
from simulators.live import Progress, percentile, run_live, tag
from simulators.publish import Publisher, encode
from simulators.schedule import IncidentPlan
from simulators.station import publishing_accounts

# Per-worker slots of the shared counter array.
CONNECTED, HOMES_ONLINE, PUBLISHED, INCIDENTS, LAG, READY = range(6)
SLOTS = 6
# Sockets one worker may hold: the container's hard open-file limit is 20,000 per process.
MAX_SOCKETS_PER_PROCESS = 18_000


@dataclass(frozen=True, slots=True)
class LoadJob:
    """What every worker needs: the homes (split among workers), time, broker and credentials."""

    homes: list[Home]
    start: datetime
    days: int
    seed: int
    plan: IncidentPlan | None
    speed: float
    host: str
    port: int
    credentials: dict[str, str]
    processes: int = 1
    connect_rate: float = 1000.0  # new connections per second, all workers together
    keepalive: int = 60
    truth: Path | None = None
    order_window_s: float | None = None  # readings in time order at the broker to within this
    brokers: tuple[
        tuple[str, int], ...
    ] = ()  # (host, port) listeners; worker i uses i mod len (empty: host, port)

    def broker(self, index: int) -> tuple[str, int]:
        """The listener worker ``index`` connects its homes to."""
        return self.brokers[index % len(self.brokers)] if self.brokers else (self.host, self.port)


@dataclass(slots=True)
class WorkerResult:
    """What one worker reports at the end."""

    index: int
    homes: int
    connections: int
    published: int
    incidents: int
    cpu_s: float
    wall_s: float
    lags: list[float] = field(default_factory=list)
    unacked: int = 0  # readings the broker had not acknowledged 15 s after the run (lost with the process)


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (root may also raise the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(hard, 262144) if os.geteuid() == 0 else hard
    for limit in (want, hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return limit
    return soft


def shares(count: int, processes: int) -> list[range]:
    """Split ``count`` homes into ``processes`` contiguous, nearly equal ranges."""
    base, extra = divmod(count, processes)
    out, lo = [], 0
    for i in range(processes):
        hi = lo + base + (1 if i < extra else 0)
        out.append(range(lo, hi))
        lo = hi
    return out


def sockets_per_process(accounts: list[int], processes: int) -> list[int]:
    """Broker connections each worker holds, given each home's publishing accounts (homes split by ``shares``)."""
    return [sum(accounts[i] for i in share) for share in shares(len(accounts), processes)]


def plan_processes(
    accounts: list[int], *, wanted: int, brokers: int = 1, max_sockets: int = MAX_SOCKETS_PER_PROCESS
) -> int:
    """The fewest workers, at least ``wanted`` and a multiple of ``brokers`` (so each listener gets the same
    share), such that none holds more than ``max_sockets`` connections; never more than one per home."""
    step = max(brokers, 1)
    n = -(-max(wanted, 1) // step) * step
    while n < len(accounts) and max(sockets_per_process(accounts, n)) > max_sockets:
        n += step
    return max(1, min(n, len(accounts)))


def _primed(sim: HomeSim) -> Iterator[tuple[float, object]]:
    """The home's stream with its first item already generated (the catch-up to now happens before the clock)."""
    items = sim.stream()
    first = next(items, None)
    return iter(()) if first is None else itertools.chain([first], items)


def _bind_address(host: str, index: int) -> str:
    """A loopback source address per worker: each has its own ~28,000 ephemeral ports to the broker."""
    return f"127.0.0.{2 + index % 250}" if host in ("127.0.0.1", "localhost") else ""


class _Worker:
    """One process's share: connect its clients, wait for the start signal, publish until the deadline."""

    def __init__(self, job: LoadJob, index: int, counters: SynchronizedArray[float]) -> None:
        self.job, self.index, self.counters = job, index, counters
        self.homes = [job.homes[i] for i in shares(len(job.homes), job.processes)[index]]
        self.accounts = {h.home_id: publishing_accounts([h]) for h in self.homes}
        host, port = job.broker(index)
        self.pub = Publisher(
            host=host, port=port, credentials=job.credentials.__getitem__, encode=encode,
            keepalive=job.keepalive, connect_rate=job.connect_rate / job.processes,
            bind_address=_bind_address(host, index), order_window_s=job.order_window_s,
        )  # fmt: skip

    def _set(self, slot: int, value: float) -> None:
        self.counters[self.index * SLOTS + slot] = value

    def _report(self, prog: Progress) -> None:
        up = self.pub.online()
        self._set(CONNECTED, len(up))
        self._set(HOMES_ONLINE, sum(all(a in up for a in accts) for accts in self.accounts.values()))
        self._set(PUBLISHED, prog.published)
        self._set(INCIDENTS, prog.incidents)
        self._set(LAG, prog.lag_s)

    def run(self, go: Any, wall0: Any, stop: Any, deadline_s: float | None) -> WorkerResult:
        job, prog = self.job, Progress()
        streams = [tag(h, _primed(HomeSim(h, start=job.start, days=job.days, seed=job.seed, plan=job.plan)))
                   for h in self.homes]  # fmt: skip
        self.pub.connect([a for accts in self.accounts.values() for a in accts])
        total = sum(len(a) for a in self.accounts.values())
        # Publishing starts once every client is connected: a busy machine connects well below the
        # nominal rate (20,000 homes: ~210,000 connections at ~500/s measured), so allow 3x, up to 15 min.
        ramp = time.monotonic() + min(60 + 3 * total / max(job.connect_rate / job.processes, 1.0), 900)
        while self.pub.connected < total and time.monotonic() < ramp and not stop.is_set():
            self._report(prog)
            time.sleep(0.25)
        self._report(prog)
        self._set(READY, 1)
        _await(go)
        local_stop = threading.Event()
        threading.Thread(target=_forward, args=(stop, local_stop), daemon=True).start()
        t0, cpu0 = time.time(), _cpu()
        deadline = wall0.value + deadline_s if deadline_s is not None else None
        ticker = threading.Thread(target=self._tick, args=(prog, local_stop), daemon=True)
        ticker.start()
        with job.truth.open("a", encoding="utf-8") if job.truth else open(os.devnull, "w") as fp:
            run_live(streams, clock=SimClock(job.start, wall0.value, job.speed), publish=self.pub.publish_item,
                     on_truth=jsonl_writer(fp), stop=local_stop, deadline=deadline, progress=prog)  # fmt: skip
        wall, cpu, conns = time.time() - t0, _cpu() - cpu0, self.pub.connected
        self.pub.flush(15)
        unacked = self.pub.unacked()
        local_stop.set()
        self._report(prog)
        self.pub.close()
        return WorkerResult(self.index, len(self.homes), conns, prog.published, prog.incidents, cpu, wall,
                            prog.lags, unacked)  # fmt: skip

    def _tick(self, prog: Progress, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            self._report(prog)


def _await(event: Any) -> None:
    """Poll a multiprocessing event: a process that exits while blocked in its ``wait`` makes ``set`` hang."""
    while not event.is_set():
        time.sleep(0.1)


def _forward(src: Any, dst: threading.Event) -> None:
    _await(src)
    dst.set()


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _child(job: LoadJob, index: int, counters: Any, go: Any, wall0: Any, stop: Any, seconds: float | None,
           out: Any) -> None:  # fmt: skip
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    raise_fd_limit()
    out.put(_Worker(job, index, counters).run(go, wall0, stop, seconds))


@dataclass(slots=True)
class Snapshot:
    """Aggregated live counters of all workers."""

    connected: int
    homes_online: int
    published: int
    incidents: int
    lag_s: float
    ready: int


def snapshot(counters: Any, processes: int) -> Snapshot:
    """Sum (lag: max) the workers' counters."""
    rows = [counters[i * SLOTS : (i + 1) * SLOTS] for i in range(processes)]
    total = [int(sum(r[s] for r in rows)) for s in range(SLOTS)]
    lag = max((r[LAG] for r in rows), default=0.0)
    return Snapshot(
        total[CONNECTED], total[HOMES_ONLINE], total[PUBLISHED], total[INCIDENTS], lag, total[READY]
    )


def run_load(
    job: LoadJob,
    *,
    seconds: float | None,
    stop: threading.Event,
    on_tick: Callable[[Snapshot, bool], None],
    every: float = 2.0,
) -> list[WorkerResult]:
    """Run the homes in ``job.processes`` forked workers until ``seconds`` after all are connected, or ``stop``.

    Args:
        job: the homes and how to run them.
        seconds: real seconds to publish for once every worker is ready (None: until the streams end or stop).
        stop: set (e.g. by a signal handler) to end the run early.
        on_tick: called with the aggregated counters every ``every`` seconds and ``True`` once all are ready.
        every: display period in seconds.

    Returns:
        One result per worker that finished (a worker that died is missing).
    """
    ctx = mp.get_context("fork")
    counters, go, cstop, out = (
        ctx.Array("d", job.processes * SLOTS, lock=False),
        ctx.Event(),
        ctx.Event(),
        ctx.Queue(),
    )
    wall0 = ctx.Value("d", 0.0, lock=False)
    procs = [ctx.Process(target=_child, args=(job, i, counters, go, wall0, cstop, seconds, out), daemon=True)
             for i in range(job.processes)]  # fmt: skip
    for p in procs:
        p.start()
    results: list[WorkerResult] = []
    try:
        while len(results) < len(procs):
            if stop.is_set():
                cstop.set()
                go.set()
            snap = snapshot(counters, job.processes)
            if not go.is_set() and snap.ready == job.processes:
                wall0.value = time.time() + 0.5
                go.set()
            on_tick(snap, go.is_set())
            with contextlib.suppress(Exception):
                while True:
                    results.append(out.get(timeout=every))
            if not any(p.is_alive() for p in procs) and out.empty():
                break
    finally:
        cstop.set()
        go.set()
        for p in procs:
            p.join(30)
    return results


def connections_by_broker(results: list[WorkerResult], job: LoadJob) -> dict[int, int]:
    """Connections the workers held at the end of the run, per broker port."""
    out: dict[int, int] = {}
    for r in results:
        port = job.broker(r.index)[1]
        out[port] = out.get(port, 0) + r.connections
    return out


def summary(results: list[WorkerResult], *, extra: dict[str, Any]) -> dict[str, Any]:
    """The one JSON record of a load run: totals, rate, publish lag percentiles and CPU per process."""
    lags = [lag for r in results for lag in r.lags]
    wall = max((r.wall_s for r in results), default=0.0)
    published = sum(r.published for r in results)
    return extra | {
        "homes": sum(r.homes for r in results),
        "processes": len(results),
        "connections": sum(r.connections for r in results),
        "messages_published": published,
        "messages_per_s": round(published / wall, 1) if wall else 0.0,
        "messages_unacknowledged": sum(r.unacked for r in results),
        "incidents_injected": sum(r.incidents for r in results),
        "publish_lag_ms_p50": round(percentile(lags, 50) * 1000, 1),
        "publish_lag_ms_p99": round(percentile(lags, 99) * 1000, 1),
        "publish_lag_ms_max": round(max(lags, default=0.0) * 1000, 1),
        "cpu_percent": [round(100 * r.cpu_s / r.wall_s, 1) if r.wall_s else 0.0 for r in results],
        "seconds": round(wall, 1),
    }
