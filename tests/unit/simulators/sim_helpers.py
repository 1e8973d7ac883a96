from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from devices.types import Reading
from simulators.engine import Day, HomeSim, SimItem
from simulators.home import Home

TZ = timezone(timedelta(hours=8))
START = datetime(2026, 11, 23, tzinfo=TZ)  # a Monday

SimRunner = Callable[..., tuple[Home, list[Day]]]


def run_days(sim: HomeSim) -> list[Day]:
    return [sim.day() for _ in range(sim.days)]


def items_of(days: list[Day]) -> list[tuple[float, SimItem]]:
    return [pair for day in days for pair in day.items]


def readings_of(days: list[Day]) -> list[Reading]:
    return [item for _, item in items_of(days) if isinstance(item, Reading)]
