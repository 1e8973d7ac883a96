from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from devices.types import DeviceKind, Reading, Room
from simulators.engine import Day
from simulators.errors import IncidentSpecError
from simulators.home import Profile, build_home, neighbourhood_home
from simulators.incidents import IncidentKind, TruthRecord, jsonl_writer, parse_duration, parse_spec
from simulators.schedule import validate
from simulators.sensors import StatusChange
from tests.unit.simulators.sim_helpers import START, TZ, SimRunner, items_of, readings_of

H = 3600.0


def _truth(days: list[Day]) -> list[TruthRecord]:
    return [item for _, item in items_of(days) if isinstance(item, TruthRecord)]


def _window(readings: list[Reading], start: float, end: float) -> list[Reading]:
    return [r for r in readings if start <= r.ts.timestamp() < end]


def _moves(readings: list[Reading]) -> list[Reading]:
    """Readings that mean someone moved: motion detected, a door opened, bed/chair state changed."""
    return [
        r
        for r in readings
        if (r.kind is DeviceKind.MOTION and r.values.get("occupancy"))
        or (r.kind is DeviceKind.DOOR and "contact" in r.values)
        or (r.kind in (DeviceKind.BED, DeviceKind.CHAIR) and "occupancy" in r.values)
    ]


def _one_truth(days: list[Day], kind: IncidentKind) -> tuple[float, float, TruthRecord]:
    truth = _truth(days)
    assert [t.kind for t in truth] == [kind]
    rec = truth[0]
    assert rec.home == "h00001"
    assert rec.end > rec.start
    row = json.loads(rec.to_json())
    assert set(row) == {"home", "kind", "start", "end", "details"}
    return rec.start.timestamp(), rec.end.timestamp(), rec


@pytest.mark.parametrize("room", [Room.BATHROOM, Room.BEDROOM, Room.KITCHEN])
@pytest.mark.parametrize("detector", [False, True])
def test_fall_then_lying_still(simulate: SimRunner, room: Room, detector: bool) -> None:
    _home, days = simulate(f"fall_{room.value}@day2 10:00+90m", detectors=(room,) if detector else ())
    start, end, rec = _one_truth(days, IncidentKind(f"fall_{room.value}"))
    assert rec.details["fall_detector"] is detector
    readings = readings_of(days)
    before = [r for r in _moves(readings) if r.ts.timestamp() < start and r.kind is DeviceKind.MOTION]
    assert before[-1].device_id == f"h00001-{room.value}-motion"
    assert start - before[-1].ts.timestamp() < 180
    assert _moves(_window(readings, start + 1, end)) == []  # nothing anywhere for 90 minutes
    assert end - start >= H
    falls = [r for r in readings if r.values.get("fall")]
    if detector:
        assert len(falls) == 1
        assert 0 <= falls[0].ts.timestamp() - start < 60
    else:
        assert falls == []
    assert _moves(_window(readings, end, end + 3 * H))  # back on their feet after help came


def test_sos_press(simulate: SimRunner) -> None:
    _, days = simulate("sos@day1 15:00")
    start, _, _ = _one_truth(days, IncidentKind.SOS)
    presses = [r for r in readings_of(days) if r.values.get("action") == "sos"]
    assert [(p.kind, p.ts.timestamp()) for p in presses] == [(DeviceKind.SOS_BUTTON, start)]


def test_not_up_in_morning_stays_in_bed(simulate: SimRunner) -> None:
    _, days = simulate("not_up_in_morning@day2+4h")
    start, end, rec = _one_truth(days, IncidentKind.NOT_UP_IN_MORNING)
    readings = readings_of(days)
    assert 4 <= datetime.fromtimestamp(start, TZ).hour < 11
    bed = [r for r in readings if r.kind is DeviceKind.BED and "occupancy" in r.values]
    assert [r.values["occupancy"] for r in bed if r.ts.timestamp() < start][-1] is True
    assert _moves(_window(readings, start, end)) == []
    assert "usual_wake" in rec.details


def test_no_water_use_keeps_the_meter_flat(simulate: SimRunner) -> None:
    _, days = simulate("no_water_use@day2 07:00+14h")
    start, end, _ = _one_truth(days, IncidentKind.NO_WATER_USE)
    water = [r for r in readings_of(days) if "water_total_l" in r.values]
    inside = {r.values["water_total_l"] for r in _window(water, start, end)}
    assert len(_window(water, start, end)) >= 50  # the meter keeps reporting
    assert len(inside) == 1
    assert max(r.values["water_total_l"] for r in water) > inside.pop()  # normal use before/after


def test_night_exit_without_return(simulate: SimRunner) -> None:
    _, days = simulate("night_exit_no_return@day2 02:00+5h")
    start, end, _ = _one_truth(days, IncidentKind.NIGHT_EXIT_NO_RETURN)
    readings = readings_of(days)
    opened = [r for r in readings if r.kind is DeviceKind.DOOR and r.values.get("contact") is False]
    assert any(r.ts.timestamp() == start for r in opened)
    moved = _moves(_window(readings, start + 60, end))
    assert moved == []
    assert any(r.ts.timestamp() == end for r in opened)  # brought back when it ends


def test_long_bathroom_stay(simulate: SimRunner) -> None:
    _, days = simulate("long_bathroom_stay@day2 16:00+2h")
    start, end, _ = _one_truth(days, IncidentKind.LONG_BATHROOM_STAY)
    moved = _moves(_window(readings_of(days), start + 60, end))
    assert moved
    assert {r.device_id for r in moved} == {"h00001-bathroom-motion"}


@pytest.mark.parametrize(
    ("kind", "metric"), [("smoke", "smoke"), ("gas", "gas"), ("water_leak", "water_leak")]
)
def test_alarms(simulate: SimRunner, kind: str, metric: str) -> None:
    _, days = simulate(f"{kind}@day2 12:00+30m")
    start, end, _ = _one_truth(days, IncidentKind(kind))
    alarm = [r for r in readings_of(days) if metric in r.values]
    assert next(r.ts.timestamp() for r in alarm if r.values[metric]) == start
    assert all(start <= r.ts.timestamp() < end for r in alarm if r.values[metric])
    assert [r for r in alarm if r.values[metric] is False][-1].ts.timestamp() == end


def test_water_leak_runs_the_meter(simulate: SimRunner) -> None:
    _, days = simulate("water_leak@day2 01:00+2h")
    start, end, _ = _one_truth(days, IncidentKind.WATER_LEAK)
    water = _window([r for r in readings_of(days) if "water_total_l" in r.values], start, end + 1)
    assert water[-1].values["water_total_l"] - water[0].values["water_total_l"] > 1.5 * 100 * 0.9


@pytest.mark.parametrize(
    ("kind", "check"), [("indoor_cold", lambda t: t <= 12), ("indoor_heat", lambda t: t >= 32)]
)
def test_dangerous_indoor_temperature(simulate: SimRunner, kind: str, check: Callable[[float], bool]) -> None:
    _, days = simulate(f"{kind}@day2 13:00+8h")
    start, end, _ = _one_truth(days, IncidentKind(kind))
    temps = [r for r in readings_of(days) if "temperature" in r.values]
    assert any(check(r.values["temperature"]) for r in _window(temps, start, end))
    assert not any(check(r.values["temperature"]) for r in temps if r.ts.timestamp() < start)


def test_device_silent(simulate: SimRunner) -> None:
    _, days = simulate("device_silent@day2 08:00+10h")
    start, end, rec = _one_truth(days, IncidentKind.DEVICE_SILENT)
    device = rec.details["device_id"]
    mine = [r for r in readings_of(days) if r.device_id == device]
    assert _window(mine, start, end) == []
    assert _window(mine, start - 2 * H, start)
    assert _window(mine, end, end + 2 * H)


def test_battery_runs_out(simulate: SimRunner) -> None:
    _, days = simulate("battery_depleted@day2 20:00+20h")
    start, end, rec = _one_truth(days, IncidentKind.BATTERY_DEPLETED)
    mine = [r for r in readings_of(days) if r.device_id == rec.details["device_id"] and "battery" in r.values]
    before = [r for r in mine if r.ts.timestamp() < start]
    assert before[-1].values["battery"] <= 2
    assert before[-1].values["battery_low"] is True
    assert _window(mine, start, end) == []
    assert next(r.values["battery"] for r in mine if r.ts.timestamp() >= end) >= 99


def test_gateway_offline(simulate: SimRunner) -> None:
    home, days = simulate("gateway_offline@day2 09:00+3h", profile=Profile.ZIGBEE)
    start, end, _rec = _one_truth(days, IncidentKind.GATEWAY_OFFLINE)
    statuses = [item for _, item in items_of(days) if isinstance(item, StatusChange)]
    assert [(s.device_id, s.online, s.ts.timestamp()) for s in statuses] == [
        (home.gateway_id, False, start),
        (home.gateway_id, True, end),
    ]
    inside = _window(readings_of(days), start, end)
    zigbee = {d.device_id for d in home.gateway_devices()}
    assert inside
    assert not any(r.device_id in zigbee for r in inside)


def test_resident_away_is_a_long_empty_house(simulate: SimRunner) -> None:
    _, days = simulate("resident_away@day1 10:00+2d", days=4)
    start, end, _rec = _one_truth(days, IncidentKind.RESIDENT_AWAY)
    assert end - start == 2 * 86400
    readings = readings_of(days)
    assert _moves(_window(readings, start + 60, end)) == []
    assert len(_window(readings, start, end)) > 1000  # heartbeats and meters keep going
    assert _moves(_window(readings, end, end + H))


def test_random_incidents_are_seeded_and_recorded() -> None:
    homes = [neighbourhood_home(i, seed=2) for i in range(10)]
    from simulators.engine import HomeSim

    def truths() -> list[str]:
        plan = validate(parse_spec("random:0.5"), start=START, days=4, homes=homes, seed=2)
        lines: list[str] = []
        for home in homes:
            sim = HomeSim(home, start=START, days=4, seed=2, plan=plan)
            lines += [item.to_json() for _, item in sim.stream() if isinstance(item, TruthRecord)]
        return lines

    first = truths()
    assert 8 <= len(first) <= 40  # 40 home-days at 0.5 a day (minus any that clash)
    assert first == truths()
    assert len({json.loads(line)["kind"] for line in first}) >= 6


def test_a_plan_gives_incidents_only_to_the_homes_it_was_validated_for() -> None:
    """One simulation, one clock: incident homes and incident-free control homes side by side."""
    homes = [neighbourhood_home(i, seed=2) for i in range(8)]
    plan = validate(parse_spec("random:2,sos@day1 10:00"), start=START, days=3, homes=homes[:4], seed=2)
    given = {h.home_id: [p for d in range(3) for p in plan.for_home_day(h.home_id, d)] for h in homes}
    assert all(given[h.home_id] for h in homes[:4])
    assert all(given[h.home_id] == [] for h in homes[4:])
    everyone = validate(parse_spec("random:2"), start=START, days=3, homes=homes, seed=2)
    drawn = [p for p in plan.for_home_day(homes[0].home_id, 0) if p.source == "random"]
    assert drawn == everyone.for_home_day(homes[0].home_id, 0)  # the same draws as without controls


def test_truth_writer_writes_json_lines(tmp_path: Path) -> None:
    rec = TruthRecord("h00001", IncidentKind.SMOKE, START, START + timedelta(minutes=5), {"device_id": "x"})
    path = tmp_path / "truth.jsonl"
    with path.open("w") as fp:
        write = jsonl_writer(fp)
        write(rec)
        write(rec)
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == {
        "home": "h00001",
        "kind": "smoke",
        "start": "2026-11-22T16:00:00Z",
        "end": "2026-11-22T16:05:00Z",
        "details": {"device_id": "x"},
    }


def test_spec_grammar() -> None:
    spec = parse_spec(
        " fall_bathroom@2026-11-23T07:30:00+1h, smoke@day2 10:00 ,gas+90m/h00002,random:0.05:sos|gas"
    )
    a, b, c = spec.items
    assert a.start is not None
    assert b.time_of_day is not None
    assert (a.kind, a.start.isoformat(), a.duration) == (
        IncidentKind.FALL_BATHROOM,
        "2026-11-23T07:30:00",
        3600,
    )
    assert (b.kind, b.day, b.time_of_day.hour) == (IncidentKind.SMOKE, 1, 10)
    assert (c.kind, c.home_id, c.duration, c.day) == (IncidentKind.GAS, "h00002", 5400, None)
    assert spec.rate == 0.05
    assert spec.random_kinds == (IncidentKind.SOS, IncidentKind.GAS)
    assert parse_duration("1d2h3m4s") == 93784
    ranged = parse_spec("sos@2026-11-23T07:30..2026-11-23T08:00").items[0]
    assert ranged.end is not None
    assert ranged.end.isoformat() == "2026-11-23T08:00:00"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fal_bathroom@day1", "unknown incident kind 'fal_bathroom'"),
        ("smoke@day0 10:00", "numbered from day1"),
        ("smoke@day9 10:00", "outside the simulated days"),
        ("smoke@day9", "the simulation has 3 day(s)"),
        ("smoke@2026-11-23T10:00..2026-11-23T09:00", "ends"),
        ("smoke@2026-11-22T23:00+2h", "outside the simulated days"),
        ("smoke@day3 23:00+2h", "outside the simulated days"),
        ("smoke@day2 25:00", "bad time of day"),
        ("smoke@tomorrow", "bad time"),
        ("smoke+0m", "longer than zero"),
        ("smoke+5x", "cannot parse"),
        ("smoke@day1/h99999", "no simulated home"),
        ("gateway_offline@day1 10:00/h00002", "has no gateway"),
        ("resident_away+5d", "longer than the 3-day simulation"),
        ("random:abc", "bad random rate"),
        ("random:50", "between 0 and 10"),
        ("fall_kitchen@day2 10:00+2h,resident_away@day2 09:00+1d", "overlap"),
    ],
)
def test_bad_specs_are_refused_before_running(spec: str, message: str) -> None:
    homes = [
        build_home("h00001", profile=Profile.ZIGBEE),
        build_home("h00002", profile=Profile.NATIVE),
    ]
    with pytest.raises(IncidentSpecError, match=None) as err:
        validate(parse_spec(spec), start=START, days=3, homes=homes, seed=1)
    assert message in str(err.value)
