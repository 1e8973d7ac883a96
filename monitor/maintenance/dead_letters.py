"""Dead-letter retention: rejected messages are kept for inspection for a configured age, then deleted.

Each dead letter holds the (possibly hostile) payload of a rejected message; without retention the table grows
for ever. Deletion runs in batches of ``batch`` rows, each committed on its own, so that a backlog of millions
neither holds one long transaction (bloat, replication lag) nor locks out ingest's inserts; at most
``max_batches`` per pass, the rest goes in the next pass.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

DEFAULT_BATCH = 5000
DEFAULT_MAX_BATCHES = 200  # one million rows per pass at most

DELETE_SQL = """
DELETE FROM dead_letter WHERE id IN (
  SELECT id FROM dead_letter WHERE received_at < %(before)s ORDER BY received_at LIMIT %(batch)s
)
"""


def purge_dead_letters(
    conn: psycopg.Connection,
    *,
    before: datetime,
    batch: int = DEFAULT_BATCH,
    max_batches: int = DEFAULT_MAX_BATCHES,
) -> int:
    """Delete dead letters received before ``before``; returns how many. Commits after every batch."""
    if before.tzinfo is None:
        raise ValueError("'before' must be timezone-aware")
    if batch < 1 or max_batches < 1:
        raise ValueError("batch and max_batches must be positive")
    conn.commit()  # batches are transactions of their own, not savepoints of a caller's open one
    deleted = 0
    for _ in range(max_batches):
        n = conn.execute(DELETE_SQL, {"before": before, "batch": batch}).rowcount
        conn.commit()
        deleted += n
        if n < batch:
            break
    return deleted
