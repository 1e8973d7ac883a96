from datetime import timedelta
from typing import Any

from monitor.rules import AlertKind, Severity
from tests.unit.monitor.rules_helpers import at, kinds, make_home


def test_sos_raises_critical_on_the_reading_itself() -> None:
    home = make_home()
    out = home.read("sos-1", at(1, 10), action="sos")
    assert kinds(out) == ["sos"]
    (c,) = out
    assert c.severity == Severity.CRITICAL
    assert c.detected_at == at(1, 10)
    assert c.resident_id == "r-1"
    assert "紧急呼叫" in c.reason_zh
    assert "SOS" in c.reason_en
    assert kinds(home.read("sos-1", at(1, 10, 5), action="single")) == []
    assert kinds(home.read("sos-1", at(1, 10, 6), action="sos")) == ["sos"]  # every press is evidence


def test_fall_detector_raises_critical() -> None:
    home = make_home()
    assert kinds(home.read("fall-1", at(1, 3), fall=True)) == ["fall"]
    assert kinds(home.read("fall-1", at(1, 3, 1), fall=False)) == []


def test_smoke_raises_once_and_clears_when_the_detector_clears() -> None:
    home = make_home()
    assert kinds(home.read("smoke-1", at(1, 12), smoke=True)) == ["smoke"]
    assert kinds(home.read("smoke-1", at(1, 12, 1), smoke=True)) == []  # still the same open condition
    out = home.read("smoke-1", at(1, 12, 2), smoke=False)
    assert kinds(out, cleared=True) == ["smoke"]
    assert kinds(out) == []


def test_gas_leak_tamper_and_their_severities() -> None:
    home = make_home()
    (gas,) = home.read("gas-1", at(1, 12), gas=True)
    (leak,) = home.read("leak-1", at(1, 12), water_leak=True)
    (tamper,) = home.read("m-kit", at(1, 12), tamper=True)
    assert (gas.kind, gas.severity) == (AlertKind.GAS, Severity.CRITICAL)
    assert (leak.kind, leak.severity) == (AlertKind.WATER_LEAK, Severity.HIGH)
    assert (tamper.kind, tamper.severity) == (AlertKind.TAMPER, Severity.MEDIUM)
    assert gas.evidence["rooms"] == ["kitchen"]
    assert leak.evidence["devices"] == ["leak-1"]


def test_away_and_hospital_never_suppress_life_safety() -> None:
    modes: list[dict[str, Any]] = [{"away": True}, {"hospital": True}]
    for mode in modes:
        home = make_home(**mode)
        got = kinds(home.read("sos-1", at(1, 9), action="sos"))
        got += kinds(home.read("smoke-1", at(1, 9), smoke=True))
        got += kinds(home.read("gas-1", at(1, 9), gas=True))
        got += kinds(home.read("leak-1", at(1, 9), water_leak=True))
        got += kinds(home.read("fall-1", at(1, 9), fall=True))
        assert got == ["sos", "smoke", "gas", "water_leak", "fall"]


def test_home_without_resident_raises_no_resident_alarm_but_keeps_property_hazards() -> None:
    home = make_home(resident=None)
    assert kinds(home.read("sos-1", at(1, 9), action="sos")) == []
    assert kinds(home.read("fall-1", at(1, 9), fall=True)) == []
    home.motion("m-bath", at(1, 9))
    assert kinds(home.ticks(at(1, 9), at(2, 12), step_min=15)) == []  # no inactivity, not-up, ...
    (smoke,) = home.read("smoke-1", at(2, 12), smoke=True)
    assert smoke.kind == AlertKind.SMOKE
    assert smoke.resident_id is None


def test_out_of_order_hazard_reading_does_not_undo_a_newer_one() -> None:
    home = make_home()
    home.read("smoke-1", at(1, 12, 5), smoke=True)
    out = home.read("smoke-1", at(1, 12, 0), now=at(1, 12, 6), smoke=False)  # older "all clear" arrives late
    assert out == []
    assert "smoke" in home.state.active


def test_cold_fires_after_the_duration_not_before() -> None:
    home = make_home()
    assert home.read("temp-1", at(1, 2), temperature=14.5) == []
    assert home.tick(at(1, 2, 4)) == []
    (cold,) = home.tick(at(1, 2, 5))
    assert cold.kind == AlertKind.COLD
    assert cold.started_at == at(1, 2)
    assert cold.evidence["temperature_c"] == 14.5
    assert "低于" in cold.reason_zh
    assert home.read("temp-1", at(1, 2, 10), temperature=16.2) == []  # inside the hysteresis band
    assert kinds(home.read("temp-1", at(1, 2, 15), temperature=17.0), cleared=True) == ["indoor_cold"]


def test_heat_respects_configured_range_and_extreme_heat_is_critical() -> None:
    home = make_home(temperature={"min_c": 16, "max_c": 28, "duration_min": 10})
    home.read("temp-1", at(1, 14), temperature=29.0)
    assert home.tick(at(1, 14, 9)) == []
    assert kinds(home.tick(at(1, 14, 10))) == ["indoor_heat"]
    hot = make_home()
    hot.read("temp-1", at(1, 14), temperature=36.0)
    (c,) = hot.tick(at(1, 14, 6))
    assert c.kind == AlertKind.HEAT
    assert c.severity == Severity.CRITICAL


def test_brief_excursion_below_range_raises_nothing() -> None:
    home = make_home()
    home.read("temp-1", at(1, 2), temperature=15.0)
    home.read("temp-1", at(1, 2, 3), temperature=17.0)
    assert home.ticks(at(1, 2, 3), at(1, 3)) == []


def test_future_stamped_reading_is_capped_at_now() -> None:
    home = make_home()
    now = at(1, 10)
    (c,) = home.read("sos-1", now + timedelta(hours=5), now=now, action="sos")
    assert c.started_at == now
    assert home.state.latest_at == now
    assert home.state.last_activity_at == now
