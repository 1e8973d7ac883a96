"""Simulated time: day grid, real or accelerated wall clock, and a lazy time-ordered merge of many homes."""

from __future__ import annotations

import heapq
import time as _time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from operator import itemgetter
from typing import TypeVar

from simulators.errors import SimulatorError

T = TypeVar("T")


def day_midnight(start: datetime, day: int) -> datetime:
    """Return local midnight of simulated day ``day`` (0 = the day ``start`` falls on), aware."""
    if start.tzinfo is None:
        raise SimulatorError("the simulation start must be timezone-aware")
    return datetime.combine(start.date() + timedelta(days=day), time(0), tzinfo=start.tzinfo)


@dataclass(frozen=True, slots=True)
class SimClock:
    """Maps simulated time to wall time: ``speed`` 1 is real time, 1008 runs a week in ten minutes.

    Payload timestamps are always simulated time; only the wall time at which an item is due changes.
    """

    sim_start: datetime
    wall_start: float
    speed: float = 1.0

    def __post_init__(self) -> None:
        """Reject a non-positive speed or a naive start."""
        if self.speed <= 0:
            raise SimulatorError(f"speed must be > 0, got {self.speed}")
        if self.sim_start.tzinfo is None:
            raise SimulatorError("sim_start must be timezone-aware")

    def wall_at(self, sim_ts: float) -> float:
        """Wall-clock time (epoch seconds) at which simulated epoch second ``sim_ts`` is due."""
        return self.wall_start + (sim_ts - self.sim_start.timestamp()) / self.speed

    def sim_at(self, wall: float) -> datetime:
        """Simulated time (aware UTC) corresponding to wall-clock epoch second ``wall``."""
        seconds = (wall - self.wall_start) * self.speed
        return self.sim_start.astimezone(UTC) + timedelta(seconds=seconds)


def merge(streams: Iterable[Iterable[tuple[float, T]]]) -> Iterator[tuple[float, T]]:
    """Merge per-home streams of (sim epoch seconds, item), each in time order, into one time order.

    Lazy: each stream is pulled only when its head is the earliest; ties keep stream order.
    """
    return heapq.merge(*streams, key=itemgetter(0))


def schedule(streams: Iterable[Iterable[tuple[float, T]]], *, clock: SimClock) -> Iterator[tuple[float, T]]:
    """Yield (wall_due_time, item) over all streams in time order, due times from ``clock``."""
    for sim_ts, item in merge(streams):
        yield clock.wall_at(sim_ts), item


def pace(
    scheduled: Iterable[tuple[float, T]],
    *,
    now: Callable[[], float] = _time.time,
    sleep: Callable[[float], None] = _time.sleep,
    max_lag: float | None = None,
) -> Iterator[tuple[float, T]]:
    """Yield each (due, item) no earlier than its due wall time, sleeping in between.

    Items already late are yielded at once (catch-up); with ``max_lag`` set, items more than ``max_lag``
    seconds late are skipped instead (for real-time replays started after their first items were due).
    """
    for due, item in scheduled:
        wait = due - now()
        if wait > 0:
            sleep(wait)
        elif max_lag is not None and -wait > max_lag:
            continue
        yield due, item
