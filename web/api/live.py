"""One LISTEN connection per API process fans ``live_event`` rows out to websocket clients.

Ids come from a sequence, so a transaction holding a lower id may commit after a higher one. The hub
delivers every event once, as soon as it is visible (a late lower id is delivered late, not dropped), and
keeps a *watermark*: every id at or below it has been delivered or is a gap that can no longer fill (a
rolled-back insert). A gap is final once every transaction that was in flight when it was first seen has
ended (the snapshot's xmin has passed the xmax recorded then), at once when nothing was in flight, and in
any case after ``gap_timeout``. Clients resume with the watermark (``resume_after``), so a reconnect replays
exactly what they may have missed; ids above it that a client already has are skipped by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

log = logging.getLogger(__name__)
CHANNEL = "live"
COLUMNS = "id, at, topic, station_id, home_id, subject_id, body"
FETCH_PAGE = 2000
Event = dict[str, Any]


# Events after which a subscriber's scope may have changed (a re-plan moves homes between caregivers).
RESCOPE_TOPICS = frozenset({"plan", "task"})


@dataclass(eq=False)
class Subscriber:
    """One websocket: its scope predicate (replaced when the scope changes) and its outbound queue.

    ``recheck`` is set by the hub when an event that may change scopes passes, whoever it is for.
    """

    accepts: Callable[[Event], bool]
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(maxsize=2000))
    overflowed: bool = False
    recheck: asyncio.Event = field(default_factory=asyncio.Event)


def event_json(row: Event, resume_after: int) -> Event:
    """The wire form of an event."""
    return {**row, "at": row["at"].isoformat(), "resume_after": resume_after}


class Hub:
    """Fan-out of the ``live`` channel to the process's subscribers."""

    def __init__(self, conninfo: str, *, gap_timeout: float = 5.0, recent: int = 20_000) -> None:
        self.conninfo = conninfo
        self.gap_timeout = gap_timeout
        self.watermark = 0
        self.subscribers: set[Subscriber] = set()
        self.ready = asyncio.Event()
        self._above: set[int] = set()  # delivered ids above the watermark
        self._gap_seen: dict[int, tuple[float, int]] = {}  # missing id -> (first noticed, snapshot xmax then)
        self._recent: OrderedDict[int, None] = OrderedDict()  # delivered ids, to deliver a late one once
        self._recent_max = recent
        self.failed_events = 0  # events (or one subscriber's scope check) that raised: logged, skipped

    def subscribe(self, accepts: Callable[[Event], bool]) -> Subscriber:
        """Start buffering events for a new client (before it replays the gap, so nothing falls between)."""
        sub = Subscriber(accepts)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget a client."""
        self.subscribers.discard(sub)

    async def run(self) -> None:
        """LISTEN forever, reconnecting with back-off; each notification triggers one fetch."""
        delay = 0.5
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live listener lost its connection; reconnecting in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:  # pragma: no cover - _listen only returns by raising
                delay = 0.5

    async def _listen(self) -> None:
        listen = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        fetch = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, row_factory=dict_row)
        async with listen, fetch:
            await listen.execute(f"LISTEN {CHANNEL}")
            if not self.ready.is_set():
                row = await (
                    await fetch.execute("SELECT coalesce(max(id), 0) AS m FROM live_event")
                ).fetchone()
                self.watermark = int(row["m"]) if row else 0
                self.ready.set()
            await self._fetch(fetch, [])  # whatever happened while (re)connecting
            while True:
                # stop_after=1 still yields every notification of the packet that carried it
                ids = [int(n.payload) async for n in listen.notifies(timeout=1.0, stop_after=1)
                       if n.payload.isascii() and n.payload.isdigit() and len(n.payload) < 19]  # fmt: skip
                if ids or self._gap_seen:
                    await self._fetch(fetch, ids)

    async def _fetch(self, conn: psycopg.AsyncConnection[Any], ids: list[int]) -> None:
        after = self.watermark
        while True:  # in pages, so a long outage does not load the whole backlog at once
            # the snapshot's bounds come from the same statement as the rows, so they describe what it saw
            cur = await conn.execute(
                "SELECT s.snap_xmin, s.snap_xmax, e.* FROM (SELECT"
                " pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS snap_xmin,"
                " pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS snap_xmax) s"
                f" LEFT JOIN LATERAL (SELECT {COLUMNS} FROM live_event WHERE id > %s OR id = ANY(%s)"
                " ORDER BY id LIMIT %s) e ON true",
                (after, ids, FETCH_PAGE),
            )
            got: list[Event] = await cur.fetchall()
            snapshot = (int(got[0]["snap_xmin"]), int(got[0]["snap_xmax"]))
            rows = [
                {k: v for k, v in r.items() if k not in ("snap_xmin", "snap_xmax")}
                for r in got
                if r["id"] is not None
            ]
            fresh = [r for r in rows if r["id"] not in self._recent and r["id"] not in self._above]
            for row in fresh:
                self._remember(int(row["id"]))
            self._advance(time.monotonic(), snapshot)
            for row in fresh:
                try:  # the error boundary: one event that cannot be sent costs that event, not the feed
                    self.dispatch(row)
                except Exception:
                    self.failed_events += 1
                    log.exception(
                        "live: event %s could not be dispatched (kept in live_event)", row.get("id")
                    )
            if len(rows) < FETCH_PAGE:
                return
            after, ids = max(after, int(rows[-1]["id"])), []

    def _remember(self, event_id: int) -> None:
        self._recent[event_id] = None
        if len(self._recent) > self._recent_max:
            self._recent.popitem(last=False)
        if event_id > self.watermark:
            self._above.add(event_id)

    def _advance(self, now: float, snapshot: tuple[int, int]) -> None:
        """Move the watermark over delivered ids and over gaps that can no longer fill."""
        xmin, xmax = snapshot
        while self._above:
            nxt = self.watermark + 1
            if nxt in self._above:
                self._above.discard(nxt)
                self._gap_seen.pop(nxt, None)
                self.watermark = nxt
                continue
            first, xmax_then = self._gap_seen.setdefault(nxt, (now, xmax))
            in_flight = xmin < xmax_then  # a transaction running when the gap was first seen still runs
            if in_flight and now - first < self.gap_timeout:
                return
            log.debug("live: id %d never committed (rolled back); moving on", nxt)
            self._gap_seen.pop(nxt, None)
            self.watermark = nxt
        self._gap_seen.clear()

    def dispatch(self, row: Event) -> None:
        """Queue one event for every subscriber whose scope accepts it."""
        message = event_json(row, self.watermark)
        rescope = row.get("topic") in RESCOPE_TOPICS
        for sub in list(self.subscribers):
            if rescope:
                sub.recheck.set()
            try:
                accepted = not sub.overflowed and sub.accepts(row)
            except Exception:  # one subscriber's scope check must not starve the others
                self.failed_events += 1
                log.exception("live: scope check failed for event %s", row.get("id"))
                continue
            if not accepted:
                continue
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                sub.overflowed = True  # the socket is closed; the client reconnects and replays


async def start(hub: Hub) -> asyncio.Task[None]:
    """Run the hub in the background and wait until it listens."""
    task = asyncio.create_task(hub.run(), name="live-hub")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(hub.ready.wait(), 10)
    return task
