"""The one skeleton of every long-running process (ingest, rules, planner, maintain).

A process is a set of threads watched by this object, plus the main thread, which handles signals and
waits. Two ways out and no third:

* a stop (SIGTERM/SIGINT, or :meth:`Process.request_stop`): the main thread returns from :meth:`run` and
  the caller drains and closes what it owns;
* a fault (a watched thread raised, or returned while nobody asked it to stop): ``/readyz`` says why at
  once, the reason is logged, and :meth:`run` raises :class:`ProcessFault`, so the process exits non-zero.
  A half-alive process (a consumer whose writer thread is gone) would keep its broker session and
  silence every alarm behind it; a process that exits is restarted by its supervisor and says why.

Per-message errors never reach this level: each consumer has its own per-message error boundary
(``monitor.consumer``). A fault here is a bug or an exhausted resource, not a bad message.
"""

from __future__ import annotations

import logging
import signal
import threading
import traceback
from collections.abc import Callable
from types import FrameType

from monitor import ops_http

Readiness = Callable[[], tuple[bool, str]]
EXIT_FAULT = 70  # EX_SOFTWARE


class ProcessFault(SystemExit):
    """A watched thread died: the process must exit (non-zero) and be restarted."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(EXIT_FAULT)
        self.reason = f"{name}: {reason}"

    def __str__(self) -> str:
        return self.reason


class Process:
    """Signals, health server, watched threads and the wait loop of one process (composition, not a base)."""

    def __init__(self, name: str, *, log: logging.Logger | None = None) -> None:
        self.name = name
        self.log = log or logging.getLogger(f"eldercare.{name}")
        self.stop = threading.Event()  # set on a stop request: loops end, then the caller drains
        self._wake = threading.Event()  # set on a stop or a fault: the main thread returns
        self._fault: str | None = None
        self._ready: Readiness = lambda: (True, "ready")
        self.metrics_port: int | None = None

    # -- health ---------------------------------------------------------------------------------------
    @property
    def fault(self) -> str | None:
        return self._fault

    def readiness(self) -> tuple[bool, str]:
        if self._fault is not None:
            return False, f"fault: {self._fault}"
        if self.stop.is_set():
            return False, "stopping"
        try:
            return self._ready()
        except Exception as exc:  # a readiness probe that raises says so instead of killing the server
            return False, f"readiness check failed: {type(exc).__name__}: {exc}"

    def serve_health(self, port: int | None, ready: Readiness | None = None) -> int | None:
        """Serve ``/healthz /readyz /metrics`` on ``port`` (0: a free one); returns the bound port."""
        if ready is not None:
            self._ready = ready
        if port is None:
            return None
        server = ops_http.serve(port, self.readiness)
        self.metrics_port = int(server.server_address[1])
        self.log.info("metrics and health on http://127.0.0.1:%d/metrics", self.metrics_port)
        return self.metrics_port

    # -- threads --------------------------------------------------------------------------------------
    def set_fault(self, reason: str) -> None:
        """Mark the process as broken: readiness fails with ``reason`` first, then :meth:`run` exits."""
        if self._fault is None:
            self._fault = reason
            self.log.critical("%s: fault, exiting: %s", self.name, reason)
        self._wake.set()

    def spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Run ``target`` in a watched daemon thread: an exception, or a return before a stop, is a fault."""

        def watched() -> None:
            try:
                target()
            except BaseException as exc:
                tb = traceback.format_exc(limit=8)
                self.set_fault(f"thread {name} died: {type(exc).__name__}: {exc}")
                self.log.critical("thread %s traceback:\n%s", name, tb)
                return
            if not self.stop.is_set():
                self.set_fault(f"thread {name} ended unexpectedly")

        thread = threading.Thread(target=watched, name=name, daemon=True)
        thread.start()
        return thread

    def request_stop(self) -> None:
        self.stop.set()
        self._wake.set()

    # -- main thread ----------------------------------------------------------------------------------
    def install_signals(self) -> None:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            self.log.info("%s: signal %s, stopping", self.name, signal.Signals(signum).name)
            self.request_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def wait(self, check: Callable[[], str | None] | None = None, *, every_s: float = 1.0) -> None:
        """Block until a stop (return) or a fault (raise :class:`ProcessFault`).

        ``check`` runs every ``every_s`` on the main thread; a string it returns is a fault.
        """
        while not self._wake.wait(every_s):
            if check is not None and (why := check()) is not None:
                self.set_fault(why)
        if self._fault is not None:
            raise ProcessFault(self.name, self._fault)
