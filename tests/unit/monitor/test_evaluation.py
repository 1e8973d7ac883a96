"""Scoring of alerts against ground truth, with synthetic incidents and alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from monitor.evaluation import (
    EXPECTED,
    HEALTH,
    Alert,
    Incident,
    false_alarms,
    match,
    parse_truth,
    percentile,
    score,
)

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _inc(home: str, kind: str, start_h: float, hours: float = 2.0) -> Incident:
    start = T0 + timedelta(hours=start_h)
    return Incident(home, kind, start, start + timedelta(hours=hours), start)


def _alert(id_: int, home: str, kind: str, at_h: float, cleared_h: float | None = None) -> Alert:
    cleared = None if cleared_h is None else T0 + timedelta(hours=cleared_h)
    return Alert(id_, home, kind, T0 + timedelta(hours=at_h), cleared)


def test_every_simulator_incident_kind_has_expected_alert_kinds() -> None:
    from simulators.incidents import IncidentKind

    assert set(EXPECTED) == {k.value for k in IncidentKind}
    assert all(EXPECTED.values())


def test_parse_truth_reads_simulator_lines_and_battery_lead() -> None:
    lines = [
        json.dumps(
            {
                "home": "h1",
                "kind": "smoke",
                "start": "2026-11-20T10:00:00Z",
                "end": "2026-11-20T10:20:00Z",
                "details": {},
            }
        ),
        "",
        json.dumps(
            {
                "home": "h2",
                "kind": "battery_depleted",
                "start": "2026-11-20T12:00:00Z",
                "end": "2026-11-21T12:00:00Z",
                "details": {"low_from": "2026-11-20T00:00:00+00:00"},
            }
        ),
    ]
    smoke, battery = parse_truth(lines)
    assert (smoke.home, smoke.kind, smoke.start, smoke.since) == (
        "h1",
        "smoke",
        T0 + timedelta(hours=10),
        T0 + timedelta(hours=10),
    )
    assert battery.since == T0
    assert battery.start == T0 + timedelta(hours=12)


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([4.0], 90) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([0.0, 10.0], 90) == pytest.approx(9.0)


def test_match_needs_same_home_expected_kind_and_window() -> None:
    fall = _inc("h1", "fall_bedroom", 10)
    alerts = [
        _alert(1, "h2", "inactivity", 10.5),  # other home
        _alert(2, "h1", "smoke", 10.5),  # not a kind that detects a fall
        _alert(3, "h1", "inactivity", 13.0),  # after end + grace
    ]
    m = match([fall], alerts, grace=timedelta(minutes=30))
    assert m.delays == {fall: None}
    assert m.matched == set()
    m = match([fall], [*alerts, _alert(4, "h1", "inactivity", 10.75)], grace=timedelta(minutes=30))
    assert m.delays[fall] == pytest.approx(45.0)
    assert m.matched == {4}


def test_incident_behind_an_open_alert_of_its_kind_is_masked_not_missed() -> None:
    leak = _inc("h1", "water_leak", 10)
    earlier = _alert(1, "h1", "water_leak", 5.0)  # never cleared, never resolved: no new row can appear
    assert match([leak], [earlier], grace=timedelta(0)).masked == [leak]
    cleared = _alert(1, "h1", "water_leak", 5.0, cleared_h=6.0)
    assert match([leak], [cleared], grace=timedelta(0)).delays == {leak: None}


def test_score_per_kind_recall_precision_delays_and_false_alarms() -> None:
    incidents = [
        _inc("h1", "smoke", 2, 0.3),
        _inc("h2", "smoke", 3, 0.3),
        _inc("h1", "sos", 5, 0.5),
        _inc("h2", "sos", 22, 0.5),  # starts within 3 h of the end: not scored
    ]
    alerts = [
        _alert(1, "h1", "smoke", 2 + 1 / 3600),  # 1 s after
        _alert(2, "h1", "sos", 5 + 3 / 3600),
        _alert(3, "h3", "smoke", 8),  # an incident-free home: a false alarm, and against smoke's precision
        _alert(4, "h3", "battery_low", 9),
        _alert(5, "h1", "inactivity", 12),  # stray on an incident home
    ]
    r = score(incidents, alerts, quiet_homes=["h3", "h4"], days=1.0, until=T0 + timedelta(days=1))
    smoke, sos = r["per_kind"]["smoke"], r["per_kind"]["sos"]
    assert (smoke["incidents"], smoke["detected"], smoke["recall"]) == (2, 1, 0.5)
    assert smoke["precision"] == 0.5  # 1 detected vs 1 unmatched smoke alert
    assert smoke["time_to_detect_min_p50"] == pytest.approx(0.0, abs=0.05)
    assert (sos["incidents"], sos["recall"], sos["precision"]) == (1, 1.0, 1.0)
    assert sos["time_to_detect_min_p90"] == pytest.approx(0.05)
    assert r["incidents_late_unscored"] == 1
    assert r["recall_min"] == 0.5
    assert (r["false_alarms"], r["home_days"], r["false_alarms_per_home_day"]) == (2, 2.0, 1.0)
    assert r["by_kind"] == {"battery_low": 1, "smoke": 1}
    assert r["unmatched_alerts_on_incident_homes"] == {"inactivity": 1}


def test_false_alarms_can_exclude_device_health() -> None:
    alerts = [_alert(1, "h", "battery_low", 1), _alert(2, "h", "inactivity", 2), _alert(3, "x", "sos", 3)]
    r = false_alarms(alerts, homes=["h"], days=0.5, exclude=HEALTH)
    assert (r["false_alarms"], r["false_alarms_per_home_day"], r["by_kind"]) == (1, 2.0, {"inactivity": 1})
    assert false_alarms([], homes=[], days=1)["false_alarms_per_home_day"] is None


def test_an_incident_on_a_dead_device_is_set_aside_and_misses_name_the_nearest_alert() -> None:
    dead = Incident("h1", "device_silent", T0, T0 + timedelta(hours=10), T0, {"device_id": "h1-smoke"})
    fire = _inc("h1", "smoke", 5, 0.3)
    fire = Incident(fire.home, fire.kind, fire.start, fire.end, fire.since, {"device_id": "h1-smoke"})
    fall = _inc("h1", "fall_kitchen", 12)
    alerts = [_alert(1, "h1", "device_offline", 1), _alert(2, "h1", "no_water", 13)]
    r = score([dead, fire, fall], alerts, quiet_homes=["h3"], days=1.0, until=T0 + timedelta(days=1))
    assert [u["kind"] for u in r["incidents_unobservable"]] == ["smoke"]
    assert "smoke" not in r["per_kind"]
    assert r["per_kind"]["device_silent"]["recall"] == 1.0
    (miss,) = r["missed"]
    assert (miss["kind"], miss["nearest_alert"]["kind"], miss["nearest_alert"]["min_after_start"]) == (
        "fall_kitchen",
        "no_water",
        60.0,
    )
