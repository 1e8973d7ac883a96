"""Keep a simulation's readings in time order at the broker, across the many clients that publish them.

Each simulated device has its own MQTT connection; a process hands readings to them in simulated-time
order, but their sockets are written in whatever order the network thread gets to them, so under load a
reading can reach the broker (and the rules) after readings stamped minutes later. Rules that run on the
readings' own clock (``eldercare rules --clock data``) then judge a home on a state that lacks it. The gate
holds back a reading stamped ``t`` until every reading stamped before ``t - window`` has been acknowledged
by the broker (which routes a QoS 1 message to its subscribers before it acknowledges it): the simulated
clock of a run cannot get further ahead of what the broker has than ``window``.
"""

from __future__ import annotations

import heapq
import threading
import time

Key = tuple[str, int]  # (client id, MQTT message id)
MAX_WAIT_S = 5.0  # wall seconds one reading waits at most; the stragglers are then given up on (counted)


class OrderGate:
    """Unacknowledged readings by simulated time; :meth:`wait` blocks while one is too far behind."""

    def __init__(self, window_s: float, *, max_wait_s: float = MAX_WAIT_S) -> None:
        """``window_s``: simulated seconds a reading may be ahead of the oldest unacknowledged one."""
        self.window_s = window_s
        self.max_wait_s = max_wait_s
        self.given_up = 0  # readings no longer waited for (never acknowledged within max_wait_s)
        self.waits = 0  # readings that had to wait
        self._cond = threading.Condition()
        self._ts: dict[Key, float] = {}
        self._heap: list[tuple[float, str, int]] = []
        self._early: set[Key] = set()  # acknowledged before ``sent`` recorded them (a fast broker)

    def sent(self, key: Key, ts: float) -> None:
        """A reading stamped ``ts`` (epoch seconds) went out as ``key``."""
        with self._cond:
            if key in self._early:
                self._early.discard(key)
                return
            self._ts[key] = ts
            heapq.heappush(self._heap, (ts, *key))

    def acked(self, key: Key) -> None:
        """The broker acknowledged ``key`` (from the network thread)."""
        with self._cond:
            if self._ts.pop(key, None) is None:
                self._early.add(key)
            self._cond.notify_all()

    def drop_client(self, client_id: str) -> None:
        """The client went away (power cut, disconnect): its readings will come later or never."""
        with self._cond:
            for key in [k for k in self._ts if k[0] == client_id]:
                del self._ts[key]
            self._early = {k for k in self._early if k[0] != client_id}
            self._cond.notify_all()

    def pending(self) -> int:
        """Readings sent and not acknowledged yet."""
        with self._cond:
            return len(self._ts)

    def _oldest(self) -> float | None:
        while self._heap:
            ts, client_id, mid = self._heap[0]
            if self._ts.get((client_id, mid)) == ts:
                return ts
            heapq.heappop(self._heap)  # acknowledged or dropped since
        return None

    def wait(self, ts: float) -> None:
        """Block until no reading stamped before ``ts - window_s`` is unacknowledged (or ``max_wait_s``)."""
        deadline = None
        with self._cond:
            while (oldest := self._oldest()) is not None and oldest < ts - self.window_s:
                now = time.monotonic()
                if deadline is None:
                    deadline, self.waits = now + self.max_wait_s, self.waits + 1
                if now >= deadline:
                    self._give_up(ts - self.window_s)
                    return
                self._cond.wait(min(deadline - now, 0.05))

    def _give_up(self, before: float) -> None:
        for key in [k for k, t in self._ts.items() if t < before]:
            del self._ts[key]
            self.given_up += 1
