"""What ``eldercare eval`` sets up for the rules: baselines learned from prior weeks, and away periods."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from devices.errors import NotFoundError
from devices.types import Reading
from monitor.rules.baseline import Baseline, build_baseline, episodes_from_readings
from monitor.rules.context import HomeContext, validate_settings
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


def parse_period(text: str, *, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``FROM/UNTIL`` in ISO 8601; a time without an offset is local time in ``tz``.

    Raises:
        ValueError: not two ISO times separated by ``/``, or UNTIL not after FROM.
    """
    parts = text.split("/")
    if len(parts) != 2:
        raise ValueError(f"{text!r}: want FROM/UNTIL, two ISO times")
    start, end = (datetime.fromisoformat(p.strip()) for p in parts)
    start, end = (t if t.tzinfo is not None else t.replace(tzinfo=tz) for t in (start, end))
    if end <= start:
        raise ValueError(f"{text!r}: UNTIL must be after FROM")
    return start, end


def store_away_periods(
    conn: psycopg.Connection, *, home_id: str, periods: Sequence[tuple[datetime, datetime]]
) -> str:
    """Add away periods to the rule settings of the home's resident (validated as any saved settings).

    Returns:
        The resident's id.

    Raises:
        NotFoundError: the home has no resident.
        RuleConfigError: a period is refused (the field and the reason).
    """
    row = conn.execute(
        "SELECT r.id, s.settings FROM resident r LEFT JOIN resident_rule_settings s ON s.resident_id = r.id "
        "WHERE r.home_id = %s ORDER BY r.id LIMIT 1",
        (home_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"home {home_id} has no resident")
    resident_id, raw = row
    data: dict[str, Any] = dict(raw or {})
    added = [{"start": a.isoformat(), "end": b.isoformat(), "reason": "away"} for a, b in periods]
    data["away_periods"] = [*data.get("away_periods", []), *added]
    settings = validate_settings(data).model_dump(mode="json")
    conn.execute(
        "INSERT INTO resident_rule_settings (resident_id, settings, updated_by) VALUES (%s, %s, 'eval') "
        "ON CONFLICT (resident_id) DO UPDATE SET settings = excluded.settings, updated_at = now(), "
        "updated_by = excluded.updated_by",
        (resident_id, Jsonb(settings)),
    )
    return str(resident_id)
