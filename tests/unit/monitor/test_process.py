"""The one process skeleton: a watched thread that dies is a fault (readiness says why, exit code 70); a stop
is not."""

from __future__ import annotations

import threading

import pytest

from monitor.process import EXIT_FAULT, Process, ProcessFault


def _ready() -> tuple[bool, str]:
    return True, "listening"


def test_a_thread_that_raises_is_a_fault_seen_by_readiness_then_wait() -> None:
    proc = Process("t-raise")
    proc.serve_health(None, _ready)
    assert proc.readiness() == (True, "listening")
    release = threading.Event()

    def boom() -> None:
        release.wait(5)
        raise RuntimeError("writer lost its mind")

    thread = proc.spawn(boom, "writer")
    assert proc.fault is None  # alive and well until it raises
    release.set()
    thread.join(5)
    assert proc.fault == "thread writer died: RuntimeError: writer lost its mind"
    ok, why = proc.readiness()
    assert not ok
    assert why == "fault: thread writer died: RuntimeError: writer lost its mind"
    with pytest.raises(ProcessFault) as caught:
        proc.wait(every_s=0.05)
    assert caught.value.code == EXIT_FAULT == 70
    assert "t-raise: thread writer died: RuntimeError" in str(caught.value)
    assert not proc.stop.is_set()  # a fault is not a stop: the caller decides how to exit


def test_a_thread_that_returns_without_a_stop_is_a_fault() -> None:
    proc = Process("t-return")
    proc.spawn(lambda: None, "loop")
    with pytest.raises(ProcessFault) as caught:
        proc.wait(every_s=0.05)
    assert caught.value.reason == "t-return: thread loop ended unexpectedly"
    assert proc.readiness() == (False, "fault: thread loop ended unexpectedly")


def test_a_stop_ends_wait_without_a_fault_and_loops_may_return() -> None:
    proc = Process("t-stop")
    proc.serve_health(None, _ready)

    def loop() -> None:
        proc.stop.wait(5)

    thread = proc.spawn(loop, "loop")
    proc.request_stop()
    proc.wait(every_s=0.05)  # returns, does not raise
    thread.join(5)
    assert not thread.is_alive()
    assert proc.fault is None
    assert proc.readiness() == (False, "stopping")


def test_a_check_that_returns_a_reason_is_a_fault() -> None:
    proc = Process("t-check")
    calls: list[int] = []

    def check() -> str | None:
        calls.append(1)
        return "consumer lost its session" if len(calls) >= 2 else None

    with pytest.raises(ProcessFault) as caught:
        proc.wait(check, every_s=0.01)
    assert len(calls) == 2
    assert caught.value.reason == "t-check: consumer lost its session"


def test_the_first_fault_is_the_one_reported() -> None:
    proc = Process("t-first")
    proc.set_fault("first")
    proc.set_fault("second")
    assert proc.fault == "first"
    with pytest.raises(ProcessFault):
        proc.wait(every_s=0.01)


def test_a_readiness_probe_that_raises_says_so() -> None:
    proc = Process("t-probe")

    def broken() -> tuple[bool, str]:
        raise KeyError("state")

    assert proc.serve_health(None, broken) is None  # no port: no server, but the probe is kept
    assert proc.readiness() == (False, "readiness check failed: KeyError: 'state'")
