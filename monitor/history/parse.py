"""Pure parsing of history files into readings: CSV exports and zigbee2mqtt logs (no I/O, no clock).

Every parser takes the file's lines and yields, per line that carries data, either a :class:`Row` (a
validated reading with its 1-based line number) or a :class:`Bad` (the line number, why, and the text): a
malformed line never raises. Lines that carry no reading by design (a zigbee2mqtt log's other messages,
blank lines) are skipped silently.

CSV: a header naming at least ``time``, ``device_id`` and ``values`` (a JSON object of the device's
metrics, as in a native payload), optionally ``seq``. ``time`` is ISO 8601; without an offset it is local
time in the zone given. Without ``seq`` a reading's sequence number is its line number, so importing the same
file twice stores it once.

zigbee2mqtt: its log's ``MQTT publish: topic 'zigbee2mqtt/NAME', payload '{...}'`` lines, in the 1.x
(``Zigbee2MQTT:info  2024-01-05 10:11:12: ...``) and 2.x (``[2024-01-05 10:11:12] info: z2m:mqtt: ...``)
layouts; the log's time is local time in the zone given, and ``last_seen`` in the payload wins when present.
Bridge, availability and ``/set`` topics are not readings.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from devices.errors import ValidationFailed
from devices.telemetry import MAX_SEQ, decode_native, decode_z2m
from devices.types import DeviceKind, Reading

MAX_LINE = 16_384  # characters; a longer line is refused (no device message is that long)
CSV_REQUIRED = ("time", "device_id", "values")


@dataclass(frozen=True, slots=True)
class Row:
    """A reading read from line ``line_no`` (1-based) of the file."""

    line_no: int
    reading: Reading


@dataclass(frozen=True, slots=True)
class Bad:
    """A line that could not be imported: its 1-based number, the reason, and its text (cut)."""

    line_no: int
    reason: str
    text: str

    def __str__(self) -> str:
        """``line N: reason``."""
        return f"line {self.line_no}: {self.reason}"


Parsed = Row | Bad


def parse_time(text: str, tz: ZoneInfo) -> datetime:
    """An ISO 8601 time; a naive one is local in ``tz``. Raises ValueError with a reason."""
    try:
        ts = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"time {text[:40]!r} is not ISO 8601") from None
    ts = ts if ts.tzinfo is not None else ts.replace(tzinfo=tz)
    if not 1970 <= ts.year <= 2200:
        raise ValueError(f"time {text[:40]!r} is outside 1970..2200")
    return ts


def _csv_row(
    fields: Mapping[str, str | None], devices: Mapping[str, DeviceKind], tz: ZoneInfo, n: int
) -> Reading:
    """One data row as a native payload through the live path's own decoder (same checks, same limits)."""
    device_id = (fields.get("device_id") or "").strip()
    kind = devices.get(device_id)
    if kind is None:
        raise ValueError(f"unknown device {device_id[:60]!r} (register it first)")
    ts = parse_time(fields.get("time") or "", tz)
    raw_seq = (fields.get("seq") or "").strip()
    if raw_seq and not (raw_seq.isascii() and raw_seq.isdigit() and int(raw_seq) <= MAX_SEQ):
        raise ValueError(f"seq {raw_seq[:24]!r} is not an integer 0..2^63-1")
    values = (fields.get("values") or "").strip()
    if not values.startswith("{"):
        raise ValueError("values must be a JSON object")
    envelope = json.dumps({"ts": ts.isoformat(), "seq": int(raw_seq) if raw_seq else n, "kind": kind.value})
    reading = decode_native(device_id, f'{envelope[:-1]}, "values": {values}}}'.encode(), kind_of_device=kind)
    if not reading.values:
        raise ValueError("values is an empty object")
    return reading


def parse_csv(lines: Iterable[str], *, devices: Mapping[str, DeviceKind], tz: ZoneInfo) -> Iterator[Parsed]:
    """Readings of a CSV export (see the module docstring); ``devices`` maps registered ids to kinds."""
    numbered = ((n, line) for n, line in enumerate(lines, start=1))
    header: list[str] | None = None
    for n, line in numbered:
        text = line.rstrip("\r\n").lstrip("\ufeff")
        if not text.strip():
            continue
        if header is None:
            header = [h.strip().lower() for h in next(csv.reader([text]), [])]
            missing = [c for c in CSV_REQUIRED if c not in header]
            if missing:
                yield Bad(
                    n, f"header lacks {', '.join(missing)} (want time,device_id,values[,seq])", text[:200]
                )
                return
            continue
        yield _parse_csv_line(text, header, devices, tz, n)


def _parse_csv_line(
    text: str, header: list[str], devices: Mapping[str, DeviceKind], tz: ZoneInfo, n: int
) -> Parsed:
    if len(text) > MAX_LINE:
        return Bad(n, f"line of {len(text)} characters (at most {MAX_LINE})", text[:200])
    try:
        cells = next(csv.reader([text]), [])
        if len(cells) != len(header):
            raise ValueError(f"{len(cells)} fields, the header has {len(header)}")
        return Row(n, _csv_row(dict(zip(header, cells, strict=True)), devices, tz, n))
    except (ValueError, ValidationFailed, csv.Error) as exc:
        return Bad(n, _reason(exc), text[:200])


def _reason(exc: Exception) -> str:
    return (getattr(exc, "reason", None) or str(exc) or type(exc).__name__)[:300]


_Z2M_RE = re.compile(
    r"^(?:Zigbee2MQTT:\w+\s+(?P<t1>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}):"
    r"|\[(?P<t2>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\]\s+\w+:\s+(?:z2m(?::\w+)?:)?)"
    r"\s*MQTT publish: topic '(?P<topic>[^']*)', payload '(?P<payload>.*)'\s*$"
)
_NOT_READINGS = ("/bridge/", "/availability", "/set", "/get")


def parse_z2m_log(
    lines: Iterable[str],
    *,
    devices: Mapping[str, tuple[str, DeviceKind]],
    tz: ZoneInfo,
    base_topic: str = "zigbee2mqtt",
) -> Iterator[Parsed]:
    """Readings of a zigbee2mqtt log; ``devices`` maps the friendly name to (device id, kind)."""
    for n, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if "MQTT publish:" not in text:
            continue  # the log's other lines (startup, pairing, errors) carry no reading
        if len(text) > MAX_LINE:
            yield Bad(n, f"line of {len(text)} characters (at most {MAX_LINE})", text[:200])
            continue
        m = _Z2M_RE.match(text.strip())
        if m is None:
            yield Bad(n, "not a zigbee2mqtt 'MQTT publish' log line", text[:200])
            continue
        topic = m.group("topic")
        if not topic.startswith(base_topic + "/") or any(s in topic + "/" for s in _NOT_READINGS):
            continue  # bridge state, availability, commands: not device readings
        name = topic[len(base_topic) + 1 :]
        where = devices.get(name)
        if where is None:
            yield Bad(
                n,
                f"unknown zigbee2mqtt device {name[:60]!r} (register it with its friendly name)",
                text[:200],
            )
            continue
        try:
            local = parse_time(m.group("t1") or m.group("t2"), tz)
            yield Row(n, decode_z2m(where[0], where[1], m.group("payload").encode(), received_at=local))
        except (ValueError, ValidationFailed) as exc:
            yield Bad(n, _reason(exc), text[:200])
