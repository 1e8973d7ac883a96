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


def test_an_unreadable_spool_file_is_quarantined_with_its_reason_not_replayed_for_ever(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, max_bytes=2**20)
    good = spool.append([RawMessage("t", b"x", datetime.now(UTC))])
    bad = tmp_path / "000000000099.jsonl"
    bad.write_text('["t", "not base64!", "2026-01-01T00:00:00+00:00", false]\n')
    (tmp_path / "stray.jsonl").write_text("not a spool file")  # a name the spool never writes is ignored
    seen = [path for path, _ in spool.batches()]
    assert seen == [good]
    assert [p.name for p in spool.quarantined()] == [bad.name]
    assert "unreadable spool file" in (spool.quarantine_dir / (bad.name + ".reason")).read_text()
    assert len(spool) == 1  # the quarantined file no longer counts as waiting
