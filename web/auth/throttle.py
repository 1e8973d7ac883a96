"""Login throttling keyed on (username, client address), with exponential backoff.

Why this shape: a lock-out keyed on the username alone lets anyone keep the duty officer out by typing
wrong passwords, and one keyed on the address alone locks out everyone behind a shared proxy or NAT. Here a
failing (user, address) pair only slows down itself: after ``FREE_FAILURES`` failures it must wait
``BASE_DELAY``, doubling with each further failure up to ``MAX_DELAY``; its first success clears it. A pair
with no failures is never refused, so the right password from another place always works.

When an account collects many failures from many addresses (``ALARM_FAILURES`` in the window: a
distributed guess), pairs that have failed at all lose their free tries, which slows the guessing without
touching a clean pair either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=15)
FREE_FAILURES = 3
ALARM_FAILURES = 20
BASE_DELAY = timedelta(seconds=2)
MAX_DELAY = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class History:
    """What the store knows about one (user, address) pair and the account as a whole."""

    pair_failures: int  # failures of this pair since its last success, within the window
    last_failure: datetime | None  # of this pair
    account_failures: int  # failures of the username from every address, within the window


def delay_after(failures: int, *, free: int = FREE_FAILURES) -> timedelta:
    """How long a pair waits after ``failures`` consecutive failures (zero while it has free tries)."""
    if failures < max(free, 1):
        return timedelta(0)
    exponent = min(failures - max(free, 1), 32)
    delay: timedelta = BASE_DELAY * (2**exponent)
    return min(MAX_DELAY, delay)


def retry_after(history: History, now: datetime) -> int:
    """Seconds this pair must still wait before its password is even checked (0: go ahead)."""
    if history.pair_failures == 0 or history.last_failure is None:
        return 0
    free = 1 if history.account_failures >= ALARM_FAILURES else FREE_FAILURES
    wait = history.last_failure + delay_after(history.pair_failures, free=free) - now
    return max(0, math.ceil(wait.total_seconds()))
