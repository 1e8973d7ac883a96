"""A bounded on-disk spool for raw messages, used while the database is unreachable.

A batch is written to its own file and fsynced before its messages are acknowledged to the broker; files
are replayed in the order they were written once the database is back. A file that cannot be read back (or
whose replay fails for any reason but an outage) is moved to ``quarantine/`` beside a ``.reason`` file, never
replayed for ever: the messages it holds stay there for a person to look at.
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


class SpoolCorrupt(Exception):
    """A spool file that cannot be read back; it has been quarantined."""


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = directory
        self.quarantine_dir = directory / "quarantine"
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._next = max((int(p.stem) for p in self._files()), default=0) + 1

    def _files(self) -> list[Path]:
        return sorted(
            (p for p in self.directory.glob("*.jsonl") if p.stem.isdigit()), key=lambda p: int(p.stem)
        )

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._files())

    def __len__(self) -> int:
        return len(self._files())

    def append(self, batch: list[RawMessage]) -> Path:
        """Write one batch durably (file + fsync + directory fsync) or raise SpoolFull."""
        lines = [
            json.dumps(
                [
                    m.topic,
                    base64.b64encode(m.payload).decode(),
                    m.received_at.isoformat(),
                    m.retained,
                    m.size,
                    m.cut_key.hex(),
                ]
            )
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
        """Oldest first; the caller deletes a file (``done``) once its batch is stored. Unreadable files are
        quarantined on the way and skipped."""
        for path in self._files():
            try:
                batch = [_message(line) for line in path.read_text().splitlines() if line.strip()]
            except (OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
                self.quarantine(path, f"unreadable spool file: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            yield path, batch

    def quarantine(self, path: Path, reason: str) -> Path:
        """Move a spool file aside with the reason beside it (``<name>.reason``)."""
        self.quarantine_dir.mkdir(exist_ok=True)
        target = self.quarantine_dir / path.name
        path.replace(target)
        target.with_name(target.name + ".reason").write_text(reason + "\n")
        return target

    def quarantined(self) -> list[Path]:
        return sorted(self.quarantine_dir.glob("*.jsonl")) if self.quarantine_dir.exists() else []

    @staticmethod
    def done(path: Path) -> None:
        path.unlink(missing_ok=True)


def _message(line: str) -> RawMessage:
    fields = json.loads(line)
    if not isinstance(fields, list) or len(fields) not in (4, 6):
        raise ValueError("a spooled message is a list of 4 or 6 fields")
    topic, payload, received_at, retained = fields[:4]
    size, cut_key = (int(fields[4]), bytes.fromhex(fields[5])) if len(fields) == 6 else (-1, b"")
    if not isinstance(topic, str) or not isinstance(payload, str) or not isinstance(received_at, str):
        raise TypeError("topic, payload and received_at must be strings")
    return RawMessage(
        topic,
        base64.b64decode(payload, validate=True),
        datetime.fromisoformat(received_at),
        bool(retained),
        size,
        cut_key,
    )
