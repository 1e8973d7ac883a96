"""Run simulated homes against the broker in real or accelerated time until done, a deadline or a stop request."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from devices.types import Reading
from simulators.clock import SimClock, merge
from simulators.home import Home
from simulators.incidents import TruthRecord
from simulators.sensors import StatusChange

Publish = Callable[[Home, object], None]


@dataclass(slots=True)
class Progress:
    """Counters of a live run, updated as items are published."""

    published: int = 0
    status_changes: int = 0
    incidents: int = 0
    sim_ts: float = 0.0  # simulated time of the last item handed out
    lag_s: float = 0.0  # how late (wall seconds) the last item went out
    done: bool = False  # every stream ran out
    lags: list[float] = field(default_factory=list)  # how late each published item went out (wall seconds)


def due_at(clock: SimClock, sim_ts: float) -> float:
    """Wall time an item is due: by the clock, but never before its own timestamp (no readings from the future).

    An accelerated run that started in the past catches up with the real clock and then runs in real time,
    so the platform's ingest (which refuses timestamps more than a few minutes ahead) accepts every reading.
    """
    return max(clock.wall_at(sim_ts), sim_ts)


def run_live(
    streams: Iterable[Iterable[tuple[float, tuple[Home, object]]]],
    *,
    clock: SimClock,
    publish: Publish,
    on_truth: Callable[[TruthRecord], None],
    stop: threading.Event,
    deadline: float | None = None,
    now: Callable[[], float] = time.time,
    progress: Progress | None = None,
) -> Progress:
    """Publish every (sim time, (home, item)) of the merged streams when due; return the counters.

    Args:
        streams: per home, (simulated epoch seconds, (home, item)) in time order.
        clock: maps simulated to wall time.
        publish: sends a reading or acts on a status change of a home.
        on_truth: receives each ground-truth record when its incident starts.
        stop: set by a signal handler to end the run between items.
        deadline: wall time (epoch seconds) after which the run ends, or None.
        now: the wall clock.
        progress: counters to update in place (a display thread may read them), or None.
    """
    prog = progress or Progress()
    for sim_ts, (home, item) in merge(streams):
        due = due_at(clock, sim_ts)
        while not stop.is_set() and (wait := due - now()) > 0:
            if deadline is not None and now() + min(wait, 0.25) >= deadline:
                stop.wait(max(deadline - now(), 0.0))
                return prog
            stop.wait(min(wait, 0.25))
        if stop.is_set() or (deadline is not None and now() >= deadline):
            return prog
        prog.sim_ts, prog.lag_s = sim_ts, max(now() - due, 0.0)
        if isinstance(item, TruthRecord):
            on_truth(item)
            prog.incidents += 1
            continue
        publish(home, item)
        prog.lags.append(max(now() - due, 0.0))  # after the publish call: a blocked publish is late too
        if isinstance(item, Reading):
            prog.published += 1
        elif isinstance(item, StatusChange):
            prog.status_changes += 1
    prog.done = True
    return prog


def tag(home: Home, stream: Iterable[tuple[float, object]]) -> Iterable[tuple[float, tuple[Home, object]]]:
    """Attach the home to each item of its stream (so the merged stream knows whose device it is)."""
    for ts, item in stream:
        yield ts, (home, item)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100, nearest rank) of ``values``; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]
