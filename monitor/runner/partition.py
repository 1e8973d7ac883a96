"""Rules workers partitioned by home: worker ``i`` of ``N`` owns the homes with crc32(home id) % N == i."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from devices.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class Partition:
    """One worker's share of the homes; ``Partition()`` (0 of 1) owns them all."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValidationFailed(f"partition {self.index}/{self.count}: need 0 <= i < N")

    @classmethod
    def parse(cls, text: str) -> Partition:
        """``"i/N"`` (e.g. ``"0/2"``) as a partition; ValidationFailed when malformed."""
        i, sep, n = text.partition("/")
        if not sep or not i.strip().isdigit() or not n.strip().isdigit():
            raise ValidationFailed(f"partition must look like i/N (e.g. 0/2), got {text!r}")
        return cls(int(i), int(n))

    @property
    def all(self) -> bool:
        return self.count == 1

    def owns(self, home_id: str) -> bool:
        """Whether this worker evaluates the home (a stable hash: the same in every process)."""
        return self.count == 1 or zlib.crc32(home_id.encode()) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
