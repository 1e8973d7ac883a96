"""The on-disk spool: durable, ordered, bounded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.ingest.pipeline import RawMessage
from monitor.ingest.spool import Spool, SpoolFull


def _batch(n: int, start: int = 0) -> list[RawMessage]:
    at = datetime(2026, 11, 23, tzinfo=UTC)
    return [
        RawMessage(f"eldercare/v1/devices/d{i}/event", bytes([i % 256]) * 10, at, i % 2 == 0)
        for i in range(start, start + n)
    ]


def test_batches_come_back_in_order_and_intact(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**6)
    spool.append(_batch(3, 0))
    spool.append(_batch(2, 3))
    reopened = Spool(tmp_path, max_bytes=10**6)  # survives a restart
    got = [m for _, batch in reopened.batches() for m in batch]
    assert got == _batch(5, 0)
    for path, _ in list(reopened.batches()):
        reopened.done(path)
    assert len(reopened) == 0


def test_full_spool_refuses_with_a_clear_error(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=600)
    spool.append(_batch(3))
    with pytest.raises(SpoolFull, match="spool full"):
        spool.append(_batch(20))
    assert len(spool) == 1
