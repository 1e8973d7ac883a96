"""A bed or chair sensor that only pulses (a motion sensor aimed at it), and bedroom stillness by day once up."""

from __future__ import annotations

from datetime import timedelta

from monitor.rules import AlertCandidate
from tests.unit.monitor.rules_helpers import at, kinds, make_home


def _first(log: list[AlertCandidate], kind: str) -> AlertCandidate | None:
    return next((c for c in log if c.kind.value == kind and not c.clear), None)


def test_a_pulsing_bed_sensor_is_sleep_through_the_night() -> None:
    home = make_home()
    home.motion("m-bed", at(4, 22, 50))
    home.read("bed-1", at(4, 23, 0), occupancy=True)
    home.read("bed-1", at(4, 23, 0) + timedelta(seconds=2), occupancy=False)  # the pulse ends: no news
    home.ticks(at(4, 23, 5), at(5, 4, 0))
    assert "inactivity" not in kinds(home.log)
    assert home.state.bed_since is not None
    assert home.state.last_activity_key == "bed"


def test_a_pressure_mat_vacated_at_night_is_not_sleep() -> None:
    home = make_home()
    home.read("bed-1", at(4, 23, 0), occupancy=True)
    home.read("bed-1", at(4, 23, 40), occupancy=False)  # got up after forty minutes: a real "empty"
    home.ticks(at(4, 23, 45), at(5, 2, 0))
    first = _first(home.log, "inactivity")
    assert first is not None
    assert first.detected_at - at(4, 23, 40) <= timedelta(minutes=65)


def test_a_pulsing_bed_is_left_when_the_resident_is_seen_elsewhere() -> None:
    home = make_home()
    home.read("bed-1", at(5, 2, 0), occupancy=True)
    home.read("bed-1", at(5, 2, 0) + timedelta(seconds=2), occupancy=False)
    assert home.state.bed_since is not None
    home.motion("m-bath", at(5, 2, 10))
    assert home.state.bed_since is None
    assert home.state.bed_left_at == at(5, 2, 10)


def test_bedroom_stillness_by_day_once_up_is_not_sleep_without_a_bed_sensor() -> None:
    up = make_home(without=("bed-1",))
    up.motion("m-kit", at(5, 8, 0))  # up and about this morning
    up.motion("m-bed", at(5, 10, 0))  # back in the bedroom, then nothing
    up.ticks(at(5, 10, 5), at(5, 12, 0))
    first = _first(up.log, "inactivity")
    assert first is not None
    assert first.detected_at - at(5, 10, 1) <= timedelta(minutes=50)
    assert up.state.last_activity_key == "bedroom"

    asleep = make_home(without=("bed-1",))
    asleep.motion("m-bed", at(5, 1, 0))  # never up today: stillness in the bedroom is still the night's sleep
    asleep.ticks(at(5, 1, 5), at(5, 5, 0))
    assert "inactivity" not in kinds(asleep.log)
    assert asleep.state.last_activity_key == "bed"
