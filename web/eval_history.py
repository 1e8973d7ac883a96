"""Baselines for ``eldercare eval detection``: each simulated resident's routine learned from prior weeks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import psycopg

from devices.types import Reading
from monitor.rules.baseline import Baseline, build_baseline, episodes_from_readings
from monitor.rules.context import HomeContext
from monitor.runner import homes as home_store
from simulators.engine import HomeSim
from simulators.home import Home
from simulators.resident import make_persona

HISTORY_SEED = 7919  # the history's days are other days than the evaluated ones (same resident, same habits)


def history_baseline(home: Home, ctx: HomeContext, *, seed: int, start: datetime, days: int) -> Baseline:
    """Learn one resident's baseline from ``days`` incident-free simulated days ending at ``start``.

    The resident (persona) is the one the evaluation simulates (same seed and home id); the days
    themselves come from another random stream, so the evaluated days are never part of the history.

    Args:
        home: the simulated home.
        ctx: the home as the rules see it (registered devices, timezone).
        seed: the evaluation's seed for this home's group.
        start: the evaluation's first local midnight (aware).
        days: days of history.

    Returns:
        The baseline as the rules would have learned it from those days.
    """
    sim = HomeSim(
        home,
        start=start - timedelta(days=days),
        days=days,
        seed=seed + HISTORY_SEED,
        persona=make_persona(home.home_id, seed=seed),
    )
    readings = [item for _, item in sim.stream() if isinstance(item, Reading)]
    episodes = episodes_from_readings(readings, ctx)
    return build_baseline(episodes=episodes, rollups=[], tz=ctx.tz, now=start)


def learn_baselines(
    conn: psycopg.Connection, *, groups: Sequence[tuple[int, Sequence[Home]]], start: datetime, days: int
) -> dict[str, float]:
    """Store a history-learned baseline for the resident of every home of each ``(seed, homes)`` group.

    Returns:
        ``homes``, ``days`` and ``seconds`` (time spent learning).
    """
    t0 = time.monotonic()
    contexts, _ = home_store.load(conn)
    count = 0
    for seed, homes in groups:
        for home in homes:
            rules = contexts.get(home.home_id)
            if rules is None or rules.ctx.resident_id is None:
                continue
            base = history_baseline(home, rules.ctx, seed=seed, start=start, days=days)
            conn.execute(
                "INSERT INTO resident_baseline (resident_id, baseline) VALUES (%s, %s) "
                "ON CONFLICT (resident_id) DO UPDATE SET baseline = excluded.baseline, built_at = now()",
                (rules.ctx.resident_id, base.to_json()),
            )
            count += 1
    conn.commit()
    return {"homes": count, "days": days, "seconds": round(time.monotonic() - t0, 1)}
