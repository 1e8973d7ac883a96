"""When the planner may try a task again: backoff after each failure, and a bounded number of tries per hour.

A re-plan that fails (a solver error, a bad row) rolls back, so the task stays pending and unplanned. Retrying
it at once in a tight loop would burn a core and flood the log; never retrying it would leave an elder without
a caregiver until someone restarts the planner. So each failure pushes the next try further out (5 s, 10 s, 20
s … up to 5 min), and at most ``per_hour`` tries of one task start within any hour; after that the task waits
until its oldest try is an hour old. Pure bookkeeping on a monotonic clock: no I/O, unit-tested.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_s: float = 5.0
    factor: float = 2.0
    max_s: float = 300.0
    per_hour: int = 6

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1, 2, …)."""
        return min(self.max_s, self.first_s * self.factor ** max(0, failures - 1))


@dataclass(slots=True)
class _Entry:
    tries: deque[float] = field(default_factory=deque)  # start times of tries within the last hour
    failures: int = 0  # consecutive
    next_at: float = 0.0
    exhausted_logged: bool = False


class RetryBook:
    """Per-task tries and failures. Only tasks that have failed are kept, so the book stays small."""

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy()
        self._entries: dict[int, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _prune(self, entry: _Entry, now: float) -> None:
        while entry.tries and entry.tries[0] <= now - HOUR_S:
            entry.tries.popleft()

    def may_try(self, task_id: int, now: float) -> bool:
        """A task never tried (or that succeeded) may always be tried; a failing one when its backoff is
        over and fewer than ``per_hour`` of its tries started in the last hour."""
        entry = self._entries.get(task_id)
        if entry is None:
            return True
        self._prune(entry, now)
        return now >= entry.next_at and len(entry.tries) < self.policy.per_hour

    def exhausted(self, task_id: int, now: float) -> bool:
        """True once per exhaustion: the hourly budget is spent (the caller logs it)."""
        entry = self._entries.get(task_id)
        if entry is None:
            return False
        self._prune(entry, now)
        if len(entry.tries) < self.policy.per_hour:
            entry.exhausted_logged = False
            return False
        if entry.exhausted_logged:
            return False
        entry.exhausted_logged = True
        return True

    def failed(self, task_id: int, started: float) -> float:
        """Record a failed try that started at ``started``; returns the delay before the next one."""
        entry = self._entries.setdefault(task_id, _Entry())
        entry.tries.append(started)
        entry.failures += 1
        entry.exhausted_logged = False  # a try was allowed, so a later exhaustion is news again
        wait = self.policy.delay(entry.failures)
        entry.next_at = started + wait
        return wait

    def forget(self, task_id: int) -> None:
        """The task succeeded, or is no longer pending: nothing to retry."""
        self._entries.pop(task_id, None)

    def due(self, now: float) -> list[int]:
        """Failing tasks whose next try may start now, oldest id first."""
        return sorted(t for t in self._entries if self.may_try(t, now))

    def failing(self) -> list[int]:
        return sorted(self._entries)
