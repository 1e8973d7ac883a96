"""A bounded on-disk spool for raw messages, used while the database is unreachable.

A batch is written to its own file and fsynced before its messages are acknowledged to the broker; files
are replayed in the order they were written once the database is back.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from monitor.ingest.pipeline import RawMessage


class SpoolFull(Exception):
    """The spool has reached its size bound; nothing more may be acknowledged until the database returns."""


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._next = max((int(p.stem) for p in self._files()), default=0) + 1

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("*.jsonl"), key=lambda p: int(p.stem))

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._files())

    def __len__(self) -> int:
        return len(self._files())

    def append(self, batch: list[RawMessage]) -> Path:
        """Write one batch durably (file + fsync + directory fsync) or raise SpoolFull."""
        lines = [
            json.dumps([m.topic, base64.b64encode(m.payload).decode(), m.received_at.isoformat(), m.retained])
            for m in batch
        ]
        data = ("\n".join(lines) + "\n").encode()
        if self.size_bytes() + len(data) > self.max_bytes:
            raise SpoolFull(
                f"ingest spool full ({self.max_bytes // 2**20} MiB at {self.directory}) while the database is "
                "unreachable: new messages stay unacknowledged at the broker until it returns"
            )
        path = self.directory / f"{self._next:012d}.jsonl"
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._next += 1
        return path

    def batches(self) -> Iterator[tuple[Path, list[RawMessage]]]:
        """Oldest first; the caller deletes a file (``done``) once its batch is stored."""
        for path in self._files():
            batch = []
            for line in path.read_text().splitlines():
                topic, payload, received_at, retained = json.loads(line)
                batch.append(
                    RawMessage(
                        topic, base64.b64decode(payload), datetime.fromisoformat(received_at), bool(retained)
                    )
                )
            yield path, batch

    @staticmethod
    def done(path: Path) -> None:
        path.unlink(missing_ok=True)
