"""``eldercare eval replay``: real sensor logs with injected collapses, scored (the set-up and the run).

Each log is split at a whole local day: the first ``learn_days`` are imported as history (the import's own
COPY path, no age limit) and the resident's baseline is learned from them; the rest, with ambient device
reports and the injected incidents, is published through the broker to ingest and the rules at ``speed``.
Every log is moved by whole days to end just before now (each event keeps its local time of day), so the
live part is in the past and the rules' data clock runs through it; ingest and the rules are started
with an age limit that covers it (``--max-past-hours``), the live path's own option.

While it runs a duty officer resolves each alert ``resolve_after_min`` minutes (data time) after it was
raised: ``real_incident`` when an injected incident explains it, else ``false_alarm``, which tunes the
resident's sensitivity as in production and leaves no open alert to hide the next incident.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from devices.errors import EldercareError
from devices.types import Reading
from monitor.alerts.store import resolve
from monitor.history.parse import Row
from monitor.history.store import import_history, registered, relearn_home
from monitor.replay_score import Detection, Injected, explained_by
from simulators.casas import read_casas
from simulators.home import Home
from simulators.inject import (
    Collapse,
    InjectSpec,
    activity,
    collapse_rooms,
    draw_collapses,
    heartbeats,
    inject,
)
from simulators.replay import day_shift, replay
from web.settings import Settings

DUTY_ACTOR = "eval-duty-officer"
HEALTH_OUTCOME = "no_action_needed"


@dataclass
class Copy:
    """One home of the run: a copy of a log with its own collapses."""

    home: Home
    log: str
    history: list[Row]
    live: list[Reading]
    incidents: list[Injected]
    live_start: datetime
    live_end: datetime
    away: list[tuple[datetime, datetime]] = field(default_factory=list)


@dataclass
class LogPlan:
    """A log as the run uses it: the copies, the shift and what the conditions report."""

    path: Path
    copies: list[Copy]
    shift: timedelta
    record: dict[str, Any]


def _midnight(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def plan_log(
    path: Path,
    index: int,
    *,
    tag: str,
    spec: InjectSpec,
    learn_days: int,
    heartbeat: Sequence[tuple[str, float]],
    seed: int,
    tz: ZoneInfo,
    now: datetime,
) -> LogPlan:
    """Split, shift, copy and inject one log (pure but for reading the file).

    Raises:
        ValueError: the log has no events, or no live day after ``learn_days``.
        IncidentSpecError: the collapses cannot be placed.
    """
    log_ = read_casas(path, tz=tz)
    if not log_.events:
        raise ValueError(f"{path}: no events ({log_.summary()})")
    first, last = log_.events[0].ts, log_.events[-1].ts
    live_from = _midnight(first) + timedelta(days=learn_days)
    if live_from >= last - timedelta(hours=1):
        raise ValueError(f"{path}: spans {(last - first) / timedelta(days=1):.1f} days: nothing left after "
                         f"--learn-days {learn_days}")  # fmt: skip
    span = last - live_from
    shift = day_shift(live_from, last, now=now - timedelta(minutes=10), max_age=span + timedelta(days=2))
    base = replay(log_, home_id=f"ev{tag}-{index}-0", start=first + shift)
    seen = activity([r for r in base.readings if r.ts >= live_from + shift], base.home)
    fixed = list(spec.collapses)  # in the log's own time
    per_copy = draw_collapses(
        [(t - shift, room) for t, room in seen], rooms=collapse_rooms(base.home), after=live_from,
        until=last, n=spec.random, seed=seed + index, tz=tz, fixed=fixed,
    )  # fmt: skip
    copies = [
        _copy(log_, f"ev{tag}-{index}-{k}", collapses, shift=shift, first=first, live_from=live_from + shift,
              live_end=last + shift, heartbeat=heartbeat, away=spec.away, name=path.name)
        for k, collapses in enumerate(per_copy)
    ]  # fmt: skip
    record = {
        "log": path.name, "events": len(log_.events), "malformed_lines": len(log_.issues),
        "first": first.isoformat(), "last": last.isoformat(), "learn_days": learn_days,
        "live_from": live_from.isoformat(), "live_days": round(span / timedelta(days=1), 3),
        "shift_days": shift.days, "copies": len(copies),
        "unmapped_sensors": dict(base.unmapped), "rooms": [r.value for r in collapse_rooms(base.home)],
    }  # fmt: skip
    return LogPlan(path, copies, shift, record)


def _copy(
    log_: Any, home_id: str, collapses: Sequence[Collapse], *, shift: timedelta, first: datetime,
    live_from: datetime, live_end: datetime, heartbeat: Sequence[tuple[str, float]],
    away: Sequence[tuple[datetime, datetime]], name: str,
) -> Copy:  # fmt: skip
    built = replay(log_, home_id=home_id, start=first + shift)
    history = [Row(n, r) for n, r in zip(built.lines, built.readings, strict=True) if r.ts < live_from]
    live = [r for r in built.readings if r.ts >= live_from]
    moved = [Collapse(c.start + shift, c.room, c.hours) for c in collapses]
    # The live part runs from its first reading (not an empty midnight) to the log's end or the last
    # collapse's end, whichever is later: the ambient devices go on reporting through a collapse.
    live_from = min((r.ts for r in live), default=live_from)
    live_end = max([live_end, *(c.end for c in moved)])
    live = inject(live, built.home, moved)
    devices = list(built.home.devices)
    for kind, every in heartbeat:
        added, beats = heartbeats(built.home, kind, every, start=live_from, end=live_end)
        devices += added
        live += beats
    live.sort(key=lambda r: r.ts)
    home = Home(home_id, tuple(devices))
    seen = activity(built.readings, built.home)
    incidents = []
    for i, c in enumerate(moved):
        room = c.room.value if c.room else next((rm.value for t, rm in reversed(seen) if t <= c.start), None)
        incidents.append(Injected(f"{home_id}#{i + 1}", home_id, "collapse", room, c.start, c.end))
    return Copy(
        home, name, history, live, incidents, live_from, live_end, [(a + shift, b + shift) for a, b in away]
    )


def set_up(
    conn: psycopg.Connection, plans: Sequence[LogPlan], *, station: str, learn: bool
) -> dict[str, Any]:
    """Register every copy's home, import its history and learn its baseline (unless ``learn`` is off).

    Returns:
        Per home: readings imported and the baseline's days of data (None: defaults).
    """
    from simulators.station import register_homes
    from web.eval_history import store_away_periods

    out: dict[str, Any] = {}
    copies = [c for p in plans for c in p.copies]
    register_homes(conn, homes=[c.home for c in copies], station_id=station, where=(29.72, 106.63), seed=0)
    conn.commit()
    _, _, where = registered(conn)
    conn.commit()
    for c in copies:
        result = import_history(conn, c.history, source=f"eval:{c.log}", where=where, now=datetime.now(UTC))
        learned = relearn_home(conn, c.home.home_id, at=c.live_start) if learn and c.history else None
        if c.away:
            store_away_periods(conn, home_id=c.home.home_id, periods=c.away)
            conn.commit()
        out[c.home.home_id] = {"history_readings": result.stored + result.duplicates,
                               "baseline_days": learned["days_of_data"] if learned else None}  # fmt: skip
    return out


_OPEN = """
SELECT a.id, a.home_id, a.kind, a.reason_en, greatest(a.detected_at,
       max((e.detail->>'at')::timestamptz) FILTER (WHERE e.action IN ('reopened', 'returned')))
FROM alert a LEFT JOIN alert_event e ON e.alert_id = a.id
WHERE a.home_id = ANY(%s) AND a.status <> 'resolved' GROUP BY a.id
"""
_DETECTIONS = """
SELECT a.id, a.home_id, a.kind, e.action,
       CASE WHEN e.action = 'raised' THEN a.detected_at ELSE (e.detail->>'at')::timestamptz END,
       coalesce(e.detail->>'reason_en', a.reason_en)
FROM alert a JOIN alert_event e ON e.alert_id = a.id
WHERE a.home_id = ANY(%s) AND e.action IN ('raised', 'reopened', 'returned') ORDER BY e.id
"""


def detections(conn: psycopg.Connection, homes: Sequence[str]) -> list[Detection]:
    """Every raise, reopening and return of an alert on ``homes``, at the rules' data time."""
    rows = conn.execute(_DETECTIONS, (list(homes),)).fetchall()
    conn.commit()
    return [Detection(r[0], r[1], r[2], r[4], r[3], r[5] or "") for r in rows if r[4] is not None]


class DutyOfficer:
    """Resolves each open alert ``after`` (data time) its latest raise, as a duty officer who checked."""

    def __init__(
        self, s: Settings, homes: Sequence[str], incidents: Sequence[Injected], after: timedelta
    ) -> None:
        self.s, self.homes, self.incidents, self.after = s, list(homes), list(incidents), after
        self.resolved: dict[str, int] = {"real_incident": 0, "false_alarm": 0, HEALTH_OUTCOME: 0}
        self.stop = threading.Event()
        self.data_now: datetime | None = None
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._loop, name="duty-officer", daemon=True)

    def __enter__(self) -> DutyOfficer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        with psycopg.connect(self.s.db().conninfo()) as conn:
            while not self.stop.wait(0.3):
                if self.data_now is not None:
                    self.pass_once(conn, self.data_now)

    def pass_once(self, conn: psycopg.Connection, now: datetime) -> None:
        """Resolve what is due at data time ``now``."""
        from monitor.evaluation import HEALTH

        for alert_id, home, kind, reason, at in conn.execute(_OPEN, (self.homes,)).fetchall():
            if at is None or at + self.after > now:
                continue
            d = Detection(alert_id, home, kind, at, "open", reason or "")
            outcome = (HEALTH_OUTCOME if kind in HEALTH
                       else "real_incident" if explained_by(d, self.incidents) else "false_alarm")  # fmt: skip
            try:
                with conn.transaction():
                    resolve(conn, alert_id, actor=DUTY_ACTOR, outcome=outcome, notes="eval replay")
                self.resolved[outcome] += 1
            except (EldercareError, psycopg.Error) as exc:  # e.g. resolved meanwhile: the next pass sees it
                self.errors.append(f"alert {alert_id}: {exc}"[:200])
        conn.commit()


def truth_lines(incidents: Sequence[Injected], shift_of: dict[str, timedelta]) -> list[str]:
    """The ground truth as JSON lines (as replayed, and in the log's own time)."""
    return [
        json.dumps({"id": i.id, "home": i.home, "kind": i.kind, "room": i.room, "start": i.start.isoformat(),
                    "end": i.end.isoformat(), "start_in_log": (i.start - shift_of[i.home]).isoformat()})
        for i in incidents
    ]  # fmt: skip


def publish(
    s: Settings,
    copies: Sequence[Copy],
    *,
    speed: float,
    officer: DutyOfficer,
    label: str,
    order_window_s: float,
) -> dict[str, Any]:
    """Publish every copy's live readings in one merged, time-ordered stream paced at ``speed``, with a
    progress bar; keeps the duty officer's data clock. Returns the publish counters."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from simulators.clock import SimClock
    from simulators.live import Progress as Counters
    from simulators.live import run_live, tag
    from simulators.publish import Publisher, encode
    from simulators.station import issue_credentials
    from web.cli_bench import err

    with psycopg.connect(s.db().conninfo()) as conn:
        creds = issue_credentials(conn, homes=[c.home for c in copies], broker=s.mqtt())
    time.sleep(0.5 + len(creds) / 50_000)  # the broker reloads its password file before devices connect
    mqtt = s.mqtt()
    publisher = Publisher(host=mqtt.host, port=mqtt.port, credentials=creds.__getitem__, encode=encode,
                          order_window_s=order_window_s)  # fmt: skip
    start = min(c.live_start for c in copies)
    end = max(c.live_end for c in copies)
    streams = [tag(c.home, [(r.ts.timestamp(), r) for r in c.live]) for c in copies]
    counters, stop, done = Counters(), threading.Event(), threading.Event()
    total_s = (end - start).total_seconds()

    def watch() -> None:
        cols = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[sim]}"),
            TimeElapsedColumn(),
        )
        with Progress(*cols, console=err) as bar:
            task = bar.add_task(label, total=total_s, sim="")
            while not done.wait(0.25):
                if counters.sim_ts:
                    now = datetime.fromtimestamp(counters.sim_ts, UTC)
                    officer.data_now = now
                    bar.update(
                        task, completed=(now - start).total_seconds(), sim=f"{counters.published} readings"
                    )
            bar.update(task, completed=total_s)

    watcher = threading.Thread(target=watch, name="progress", daemon=True)
    watcher.start()
    t0 = time.monotonic()
    try:
        run_live(streams, clock=SimClock(start, time.time(), speed), publish=publisher.publish_item,
                 on_truth=lambda _r: None, stop=stop, progress=counters)  # fmt: skip
    finally:
        done.set()
        watcher.join(5)
        unacked = 0 if publisher.flush(30) else publisher.unacked()
        publisher.close()
    return {"published": counters.published, "unacknowledged": unacked, "publish_s": round(time.monotonic() - t0, 1),
            "publish_lag_s_last": round(counters.lag_s, 2)}  # fmt: skip
