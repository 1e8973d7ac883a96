"""The order gate: a reading waits until the broker has acknowledged every reading far enough before it."""

from __future__ import annotations

import threading
import time

from simulators.order import OrderGate


def test_a_reading_waits_for_older_unacknowledged_readings_beyond_the_window() -> None:
    gate = OrderGate(30.0)
    gate.sent(("a", 1), 1000.0)
    gate.sent(("b", 1), 1010.0)
    started = time.monotonic()
    gate.wait(1025.0)  # within 30 s of the oldest: no wait
    assert time.monotonic() - started < 0.05
    timer = threading.Timer(0.2, gate.acked, args=(("a", 1),))
    timer.start()
    started = time.monotonic()
    gate.wait(1035.0)  # 35 s after the reading of "a": held until the broker acknowledged it
    assert time.monotonic() - started >= 0.15
    assert gate.pending() == 1
    assert (gate.waits, gate.given_up) == (1, 0)
    timer.join()


def test_an_ack_before_the_send_was_recorded_is_not_waited_for() -> None:
    gate = OrderGate(30.0, max_wait_s=0.2)
    gate.acked(("a", 7))  # a fast broker: the PUBACK came before the publisher noted the message
    gate.sent(("a", 7), 1000.0)
    started = time.monotonic()
    gate.wait(2000.0)
    assert time.monotonic() - started < 0.1
    assert gate.pending() == 0


def test_a_client_that_went_away_and_stragglers_do_not_block_for_ever() -> None:
    gate = OrderGate(30.0, max_wait_s=0.2)
    gate.sent(("gw", 1), 1000.0)
    gate.sent(("gw", 2), 1001.0)
    gate.drop_client("gw")  # power cut: its readings come after the reconnect, or never
    gate.wait(2000.0)
    assert gate.pending() == 0
    gate.sent(("m", 1), 1000.0)
    gate.sent(("m", 2), 1990.0)
    started = time.monotonic()
    gate.wait(2000.0)  # never acknowledged: given up on after max_wait_s
    assert 0.15 <= time.monotonic() - started < 1.0
    assert (gate.given_up, gate.pending()) == (1, 1)
