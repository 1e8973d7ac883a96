"""The rules process's cheap path (runner.triage) gives what the engine gives, and skips only no-op readings."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from devices.types import Reading
from monitor.rules import Baseline, HomeContext, HomeState, ResidentSettings
from monitor.rules.candidate import AlertCandidate
from monitor.rules.engine import on_reading
from monitor.runner import triage
from monitor.runner.homes import HomeRules
from tests.unit.monitor.rules_helpers import DEVICES, at

CTX = HomeContext(home_id="h1", resident_id="r1", devices=DEVICES)
CHOICES: list[tuple[str, dict[str, Any]]] = [
    ("m-bed", {"occupancy": True}),
    ("m-bath", {"occupancy": True}),
    ("m-kit", {"occupancy": True}),
    ("m-liv", {"occupancy": True}),
    ("m-liv", {"occupancy": False, "battery": 80}),
    ("m-liv", {"occupancy": True, "battery": 9}),
    ("door-front", {"contact": False}),
    ("bed-1", {"occupancy": True}),
    ("bed-1", {"occupancy": False}),
    ("smoke-1", {"smoke": True}),
    ("smoke-1", {"smoke": False}),
    ("temp-1", {"temperature": 8.0}),
    ("temp-1", {"temperature": 21.0}),
    ("sos-1", {"action": "sos"}),
    ("fall-1", {"fall": True}),
    ("m-kit", {"occupancy": True, "heartbeat": True}),
]


def rules() -> HomeRules:
    return HomeRules(ctx=CTX, station_id="s1", settings=ResidentSettings(), baseline=Baseline())


def reading(device: str, ts: datetime, seq: int, values: dict[str, Any]) -> Reading:
    return Reading(device, ts, seq, DEVICES[device].kind, values)


def summary(cands: list[AlertCandidate]) -> list[tuple[str, bool]]:
    return [(c.kind.value, c.clear) for c in cands]


def test_same_candidates_and_state_as_the_engine_on_random_readings() -> None:
    rng = random.Random(7)
    weights = [6, 6, 6, 6, 6] + [1] * (len(CHOICES) - 5)  # mostly motion, as in a real home
    skipped = 0
    for _ in range(40):
        home, plain = rules(), HomeState()
        t = at(4, rng.randint(0, 23), rng.randint(0, 59))
        for seq in range(60):
            t += timedelta(milliseconds=rng.randint(0, 300))  # mostly within the re-evaluation interval
            device, values = rng.choices(CHOICES, weights)[0]
            r = reading(device, t, seq, values)
            expected = on_reading(plain, CTX, home.settings, home.baseline, r, t)
            evaluated_at = home.evaluated_at
            assert summary(triage.evaluate(home, r, t)) == summary(expected)
            skipped += home.evaluated_at == evaluated_at
        assert home.state == plain
    assert skipped > 200  # the cheap path was taken, and changed nothing


def test_a_repeated_motion_is_folded_in_without_running_the_rules() -> None:
    home, t = rules(), at(4, 10)
    triage.evaluate(home, reading("m-liv", t, 1, {"occupancy": True}), t)
    assert home.evaluated_at == t
    later = t + timedelta(milliseconds=300)
    assert triage.evaluate(home, reading("m-liv", later, 2, {"occupancy": True}), later) == []
    assert home.evaluated_at == t  # skipped
    assert home.state.last_activity_at == later  # but remembered
    moved = later + timedelta(milliseconds=100)
    triage.evaluate(home, reading("m-kit", moved, 3, {"occupancy": True}), moved)
    assert home.evaluated_at == moved  # another room: evaluated
    after = moved + triage.REEVALUATE_EVERY
    triage.evaluate(home, reading("m-kit", after, 4, {"occupancy": True}), after)
    assert home.evaluated_at == after  # the interval is up: evaluated


def test_sos_within_the_interval_is_raised_at_once() -> None:
    home, t = rules(), at(4, 10)
    triage.evaluate(home, reading("m-bed", t, 1, {"occupancy": True}), t)
    soon = t + timedelta(milliseconds=10)
    assert summary(triage.evaluate(home, reading("sos-1", soon, 2, {"action": "sos"}), soon)) == [
        ("sos", False)
    ]


def test_a_raised_condition_clears_on_the_next_reading() -> None:
    home, t = rules(), at(4, 10)
    triage.evaluate(home, reading("m-liv", t, 1, {"occupancy": True}), t)
    late = t + timedelta(hours=6)
    raised = triage.evaluate(home, reading("m-liv", t, 2, {"occupancy": False}), late)
    assert ("inactivity", False) in summary(raised)  # found by the interval's evaluation
    back = late + timedelta(milliseconds=200)
    cleared = triage.evaluate(home, reading("m-liv", back, 3, {"occupancy": True}), back)
    assert ("inactivity", True) in summary(cleared)


def test_signature_sees_in_place_changes_but_not_freshness() -> None:
    state = HomeState()
    before = triage.signature(state)
    state.last_seen["m-liv"] = at(4, 10)
    state.last_activity_at = at(4, 10)
    assert triage.signature(state) == before
    state.hazards.setdefault("smoke", []).append("smoke-1")
    assert triage.signature(state) != before
