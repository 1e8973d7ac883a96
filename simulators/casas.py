"""Read CASAS smart-home sensor logs (WSU) in their common variants, reporting malformed lines by number.

Accepted line shapes (fields separated by tabs or runs of spaces; blank lines are skipped)::

    DATE TIME SENSOR STATE [LABEL ...]
    DATE TIME LOCATION SENSOR STATE [LABEL ...]          (a location column before the sensor)
    DATE TIME SENSOR LOCATION [LOCATION2] STATE [...]    (hh-style, sensor ids like M012)

DATE is ``YYYY-MM-DD``; TIME is ``HH:MM:SS`` with or without fractional seconds; STATE is ON/OFF,
OPEN/CLOSE(D), PRESENT/ABSENT or a number; LABEL is free text such as ``Sleep begin``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from simulators.errors import ReplayError

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^\d{1,2}:\d{2}:\d{2}(\.\d{1,6})?$")
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
_SENSOR_ID_RE = re.compile(r"^[A-Za-z]{1,4}\d{1,4}[A-Za-z]?$")
STATES = frozenset({"ON", "OFF", "OPEN", "CLOSE", "CLOSED", "PRESENT", "ABSENT"})


@dataclass(frozen=True, slots=True)
class CasasEvent:
    """One sensor event; ``ts`` is aware (the log's local time zone as given to the reader)."""

    line_no: int
    ts: datetime
    sensor: str
    state: str
    location: str | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True)
class CasasIssue:
    """A line that could not be read: its 1-based number, why, and the text."""

    line_no: int
    reason: str
    text: str

    def __str__(self) -> str:
        """``line N: reason: text``."""
        return f"line {self.line_no}: {self.reason}: {self.text[:120]!r}"


@dataclass(slots=True)
class CasasLog:
    """A parsed log: events in time order, skipped lines with reasons, and counts."""

    events: list[CasasEvent] = field(default_factory=list)
    issues: list[CasasIssue] = field(default_factory=list)
    lines: int = 0
    blank: int = 0
    reordered: int = 0  # events whose timestamp went backwards and were put in order

    def summary(self) -> str:
        """One line: lines read, events, blank and malformed lines."""
        return (
            f"{self.lines} lines: {len(self.events)} events, {self.blank} blank, "
            f"{len(self.issues)} malformed and skipped, {self.reordered} out of order (sorted)"
        )


def is_state(token: str) -> bool:
    """True for a CASAS state token (ON/OFF, OPEN/CLOSE, PRESENT/ABSENT or a number)."""
    return token.upper() in STATES or bool(_NUMBER_RE.match(token))


def _split_sensor(before: list[str]) -> tuple[str, str | None]:
    """Tell the sensor from the location among the fields before the state."""
    if len(before) == 1:
        return before[0], None
    ids = [i for i, tok in enumerate(before) if _SENSOR_ID_RE.match(tok)]
    pick = ids[0] if ids else len(before) - 1  # default: location column first, sensor last
    rest = [tok for i, tok in enumerate(before) if i != pick]
    return before[pick], " ".join(rest)


def parse_line(text: str, *, line_no: int, tz: tzinfo = UTC) -> CasasEvent:
    """Parse one non-blank line; raise ValueError with a reason when it is malformed."""
    tokens = text.split()
    if len(tokens) < 4:
        raise ValueError("too few fields (need date, time, sensor, state)")
    date, clock, rest = tokens[0], tokens[1], tokens[2:]
    if not _DATE_RE.match(date) or not _TIME_RE.match(clock):
        raise ValueError("bad date/time (want YYYY-MM-DD HH:MM:SS[.ffffff])")
    try:
        ts = datetime.fromisoformat(f"{date}T{'0' + clock if clock[1] == ':' else clock}")
    except ValueError as exc:
        raise ValueError(f"bad date/time: {exc}") from None
    at = next((i for i in range(1, min(len(rest), 4)) if is_state(rest[i])), None)
    if at is None:
        raise ValueError("no sensor state (ON/OFF/OPEN/CLOSE/number) after the sensor name")
    sensor, location = _split_sensor(rest[:at])
    if is_state(sensor):
        raise ValueError("missing sensor name")
    label = " ".join(rest[at + 1 :]) or None
    return CasasEvent(line_no, ts.replace(tzinfo=tz), sensor, rest[at].upper(), location, label)


def parse_casas(lines: Iterable[str], *, tz: tzinfo = UTC) -> CasasLog:
    """Parse CASAS lines; malformed ones are recorded (line number, reason) and skipped.

    Args:
        lines: the log's lines (e.g. an open text file).
        tz: the time zone the log's naive timestamps are in.

    Returns:
        The log with events sorted by time (stable), issues and counts.
    """
    log = CasasLog()
    last: datetime | None = None
    for line_no, raw in enumerate(lines, start=1):
        log.lines = line_no
        text = raw.strip().lstrip("\ufeff")
        if not text:
            log.blank += 1
            continue
        try:
            event = parse_line(text, line_no=line_no, tz=tz)
        except ValueError as exc:
            log.issues.append(CasasIssue(line_no, str(exc), text))
            continue
        if last is not None and event.ts < last:
            log.reordered += 1
        last = event.ts if last is None else max(last, event.ts)
        log.events.append(event)
    if log.reordered:
        log.events.sort(key=lambda e: e.ts)
    return log


def read_casas(path: str | Path, *, tz: tzinfo = UTC) -> CasasLog:
    """Read and parse a CASAS log file (UTF-8; undecodable bytes are replaced, then reported as malformed)."""
    try:
        with Path(path).open(encoding="utf-8", errors="replace") as fp:
            return parse_casas(fp, tz=tz)
    except OSError as exc:
        raise ReplayError(f"cannot read CASAS log {path}: {exc}") from exc
