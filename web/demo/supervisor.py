"""Start the platform's processes in order, wait until each is ready, stop them all cleanly (reverse order)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class ProcSpec:
    name: str
    args: list[str]  # arguments of `eldercare`
    ready: str | None = None  # a regex the process logs when it is ready
    ready_timeout_s: float = 60.0
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Running:
    spec: ProcSpec
    proc: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


MAX_RESTARTS = 5  # restarts of one process within RESTART_WINDOW_S before the supervisor gives up
RESTART_WINDOW_S = 60.0


class ProcessFailed(RuntimeError):
    pass


class Supervisor:
    """Owns child processes; ``stop()`` always runs (use it as a context manager)."""

    def __init__(self, log_dir: Path, *, on_event: Callable[[str], None] = lambda _m: None) -> None:
        self.log_dir = log_dir
        self.running: list[Running] = []
        self._restarts: dict[str, list[float]] = {}
        self.on_event = on_event
        log_dir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self, spec: ProcSpec) -> Running:
        log_path = self.log_dir / f"{spec.name}.log"
        log_file = log_path.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "web.cli", *spec.args],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **spec.env}, start_new_session=True,  # Ctrl-C reaches us only; we stop children
        )  # fmt: skip
        run = Running(spec, proc, log_path, log_file)
        self.running.append(run)
        if spec.ready is not None:
            self._wait_ready(run)
        self.on_event(f"{spec.name} started (pid {proc.pid}, log {log_path})")
        return run

    def _wait_ready(self, run: Running) -> None:
        pattern = re.compile(run.spec.ready or "")
        deadline = time.monotonic() + run.spec.ready_timeout_s
        while time.monotonic() < deadline:
            if run.proc.poll() is not None:
                raise ProcessFailed(f"{run.spec.name} exited with {run.proc.returncode}:\n{run.log_tail()}")
            if pattern.search(run.log_path.read_text(errors="replace")):
                return
            time.sleep(0.2)
        raise ProcessFailed(
            f"{run.spec.name} not ready after {run.spec.ready_timeout_s:.0f} s:\n{run.log_tail()}"
        )

    def check(self, *, restart: bool = False) -> None:
        """Raise if a long-running process died; with ``restart``, start it again (as systemd's
        ``Restart=on-failure`` would) unless it died ``MAX_RESTARTS`` times within ``RESTART_WINDOW_S``.

        A process that exits says why in its log (``monitor.process``: a fault, its reason, exit 70): the
        reason is passed on, and one faulty process costs its own restart, not the whole platform.
        """
        for i, run in enumerate(self.running):
            if run.proc.poll() is None:
                continue
            why = f"{run.spec.name} exited with {run.proc.returncode}:\n{run.log_tail()}"
            now = time.monotonic()
            recent = [t for t in self._restarts.get(run.spec.name, []) if now - t < RESTART_WINDOW_S]
            if not restart or len(recent) >= MAX_RESTARTS:
                raise ProcessFailed(why)
            self._restarts[run.spec.name] = [*recent, now]
            self.on_event(
                f"{why}\nrestarting {run.spec.name} ({len(recent) + 1} in {RESTART_WINDOW_S:.0f} s)"
            )
            run.log_file.close()
            self.running.pop(i)
            self.start(run.spec)
            return  # the list changed: the next check looks at the others

    def stop(self, timeout_s: float = 30.0) -> None:
        for run in reversed(self.running):
            if run.proc.poll() is None:
                run.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for run in reversed(self.running):
            try:
                run.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                run.proc.kill()
                run.proc.wait(10)
                self.on_event(f"{run.spec.name} did not stop in time: killed")
            run.log_file.close()
        self.running.clear()
