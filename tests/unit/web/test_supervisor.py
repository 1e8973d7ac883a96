"""The demo's supervisor restarts a process that exits (it said why in its log) instead of stopping everything,
and gives up, loudly, on one that keeps dying."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from web.demo.supervisor import MAX_RESTARTS, ProcessFailed, ProcSpec, Supervisor


def _check_until_it_gives_up(sup: Supervisor) -> None:
    for _ in range(300):
        time.sleep(0.1)
        sup.check(restart=True)


def test_a_process_that_exits_is_restarted_until_it_dies_too_often(tmp_path: Path) -> None:
    events: list[str] = []
    with Supervisor(tmp_path, on_event=events.append) as sup:
        sup.start(ProcSpec("short-lived", ["config"]))  # prints the settings and exits
        with pytest.raises(ProcessFailed, match="short-lived exited with 0"):
            _check_until_it_gives_up(sup)
        assert sum("restarting short-lived" in e for e in events) == MAX_RESTARTS
    with Supervisor(tmp_path) as sup:
        sup.start(ProcSpec("short-lived", ["config"]))
        time.sleep(3)
        with pytest.raises(ProcessFailed):
            sup.check()  # without restart: the first exit is fatal, as before
