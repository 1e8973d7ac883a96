"""A CASAS log as history rows: the replay's own sensor mapping, each reading with its log line number."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta

from monitor.history.parse import Bad, Parsed, Row
from simulators.casas import CasasLog
from simulators.replay import Replay, SensorMap, replay


def casas_rows(
    log: CasasLog,
    *,
    home_id: str,
    known: Mapping[str, object],
    mapping: Mapping[str, SensorMap | None] | None = None,
    shift: timedelta = timedelta(0),
) -> tuple[Replay, Iterator[Parsed]]:
    """The log's readings for ``home_id`` (device ids ``{home}-{sensor}``, as ``eldercare replay`` names
    them), moved by ``shift``; malformed lines, events that fit no device and readings of devices not in
    ``known`` are Bad rows with their line numbers.

    Returns:
        The replay (its home lists the devices the log implies) and the rows in file order.
    """
    start = log.events[0].ts + shift if log.events else None
    result = replay(log, home_id=home_id, start=start, mapping=mapping)

    def rows() -> Iterator[Parsed]:
        for issue in log.issues:
            yield Bad(issue.line_no, issue.reason, issue.text[:200])
        for text in result.unfit:  # "line N: reason"
            head, _, reason = text.partition(": ")
            yield Bad(int(head.removeprefix("line ")), reason, "")
        for line_no, reading in zip(result.lines, result.readings, strict=True):
            if reading.device_id in known:
                yield Row(line_no, reading)
            else:
                yield Bad(
                    line_no, f"unknown device {reading.device_id!r} (register it, or use --register)", ""
                )

    return result, rows()
