"""Saving the rules' per-home state: serialised a slice at a time on the writer, written on a thread of its own."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import psycopg

from devices.settings import DbSettings
from monitor.consumer import is_outage, why
from monitor.runner import homes as home_store

log = logging.getLogger("eldercare.rules")
SNAPSHOT_SLICE = 250  # home states serialised per call during a saving round


class StateSaver:
    """Every ``every_s`` a round over the changed homes; ``step`` serialises a slice of it (so that an SOS
    never waits behind all of it) and hands it to the writing thread (a short queue: a slow database slows
    the caller down rather than piling up snapshots)."""

    def __init__(self, db: DbSettings, *, every_s: float) -> None:
        self.db, self.every_s = db, every_s
        self._round: list[str] = []  # homes of the current round not yet serialised
        self._started_at = time.monotonic()
        self._queue: queue.Queue[list[tuple[str, str]] | None] = queue.Queue(maxsize=3)

    def due(self) -> bool:
        """Whether a call to ``step`` has work (a round in progress, or one due)."""
        return bool(self._round) or time.monotonic() - self._started_at >= self.every_s

    def step(self, homes: dict[str, home_store.HomeRules], *, start: bool = False) -> None:
        """Begin a round when due (or ``start``), and serialise the next slice of it."""
        if not self._round and (start or time.monotonic() - self._started_at >= self.every_s):
            self._round = [home_id for home_id, home in homes.items() if home.dirty]
            self._started_at = time.monotonic()
        if self._round:
            chunk, self._round = self._round[:SNAPSHOT_SLICE], self._round[SNAPSHOT_SLICE:]
            if states := home_store.snapshot(homes, chunk):
                self._queue.put(states)

    def close(self, homes: dict[str, home_store.HomeRules], *, timeout: float = 10.0) -> None:
        """Serialise every changed home now, and wait (up to ``timeout``) until all of it is written."""
        self._round = []
        self._queue.put(home_store.snapshot(homes))
        self._queue.put(None)
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks > 1 and time.monotonic() < deadline:  # the None is never done
            time.sleep(0.05)

    def start(
        self, spawn: Callable[[Callable[[], None], str], threading.Thread] | None = None
    ) -> threading.Thread:
        if spawn is not None:
            return spawn(self._loop, "rules-state")
        thread = threading.Thread(target=self._loop, name="rules-state", daemon=True)
        thread.start()
        return thread

    def _loop(self) -> None:
        """Write snapshots on a connection of its own, so the next SOS never waits behind them."""
        conn: psycopg.Connection | None = None
        while (states := self._queue.get()) is not None:
            while True:
                try:
                    if conn is None or conn.closed or conn.broken:
                        conn = psycopg.connect(self.db.conninfo(), connect_timeout=3)
                    with conn.transaction():
                        home_store.save_states(conn, states)
                    break
                except Exception as exc:
                    if not is_outage(exc, conn):  # refused for its data (or a bug): retrying cannot help
                        log.exception(
                            "a rule-state snapshot of %d homes was refused and dropped", len(states)
                        )
                        break
                    log.warning("saving rule state failed (retrying): %s", why(exc))
                    conn = None
                    time.sleep(1.0)
            self._queue.task_done()
