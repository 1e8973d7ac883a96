from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from devices.paths import shared_data_dir
from devices.types import DeviceKind, Room
from simulators.casas import parse_casas, read_casas
from simulators.errors import ReplayError
from simulators.replay import SensorMap, infer_sensor, load_mapping, replay

DATA = shared_data_dir() / "casas"
PACIFIC = timezone(timedelta(hours=-7))


@pytest.mark.parametrize(
    ("name", "lines"),
    [("tm000.multiday_absence.txt", 21968), ("tm000.20160207_AM_InactivitySeq.txt", 202)],
)
def test_shared_casas_logs_parse_fully(name: str, lines: int) -> None:
    text = (DATA / name).read_text()
    log = read_casas(DATA / name, tz=PACIFIC)
    assert log.lines == len(text.splitlines()) == lines
    assert log.issues == []
    assert len(log.events) == lines
    assert log.events[0].ts.tzinfo is PACIFIC
    result = replay(log, home_id="casas01", start=datetime(2026, 1, 5, tzinfo=UTC))
    assert len(result.readings) == lines  # every sensor in these logs maps to a device
    assert not result.unmapped
    assert result.readings[0].ts == datetime(2026, 1, 5, tzinfo=UTC)
    stamps = [r.ts for r in result.readings]
    assert stamps == sorted(stamps)
    assert {d.device_id for d in result.home.devices} >= {"casas01-bedroomabed", "casas01-mainentryway"}


def test_absence_days_are_nearly_empty() -> None:
    log = read_casas(DATA / "tm000.multiday_absence.txt")
    per_day: dict[object, int] = {}
    for event in log.events:
        per_day[event.ts.date()] = per_day.get(event.ts.date(), 0) + 1
    assert sorted(per_day.values())[:2] == [4, 6]


@pytest.mark.parametrize(
    ("name", "location", "expected"),
    [
        ("BedroomABed", None, (Room.BEDROOM, DeviceKind.BED)),
        ("BathroomAToilet", None, (Room.BATHROOM, DeviceKind.MOTION)),
        ("KitchenASink", None, (Room.KITCHEN, DeviceKind.MOTION)),
        ("MainEntryway", None, (Room.ENTRANCE, DeviceKind.DOOR)),
        ("OfficeAChair", None, (Room.OTHER, DeviceKind.CHAIR)),
        ("LivingRoomAArea", None, (Room.LIVING_ROOM, DeviceKind.MOTION)),
        ("KitchenADiningChair", None, (Room.KITCHEN, DeviceKind.CHAIR)),
        ("HallwayA", None, (Room.HALLWAY, DeviceKind.MOTION)),
        ("FrontDoor", None, (Room.OTHER, DeviceKind.DOOR)),
        ("M012", None, (Room.OTHER, DeviceKind.MOTION)),
        ("M012", "Bedroom", (Room.BEDROOM, DeviceKind.MOTION)),
        ("D002", "MainEntry", (Room.ENTRANCE, DeviceKind.DOOR)),
        ("T101", "LivingRoom", (Room.LIVING_ROOM, DeviceKind.TEMPERATURE)),
    ],
)
def test_sensor_inference(name: str, location: str | None, expected: tuple[Room, DeviceKind]) -> None:
    assert infer_sensor(name, location) == SensorMap(*expected)


def test_unmappable_sensors() -> None:
    assert infer_sensor("L003") is None
    assert infer_sensor("BATV012") is None
    assert infer_sensor("Widget") is None


SAMPLE = """\
2011-06-15 00:06:32 M021 ON Sleep begin
2011-06-15 00:06:33.5 Bedroom M022 OFF
2011-06-15\t00:07:00.123456\tT101\t21.5

2011-06-15 00:08 M021 OFF
garbage line here
2011-06-15 00:09:00 M021 MAYBE
2011-06-15 00:05:00 D001 Ignore Ignore CLOSE Control4-Door
2011-06-15 00:10:00 L003 ON
"""


def test_variants_and_malformed_lines_reported_by_number() -> None:
    log = parse_casas(SAMPLE.splitlines())
    assert log.lines == 9
    assert log.blank == 1
    assert [(i.line_no, i.reason.split(" ")[0]) for i in log.issues] == [(5, "bad"), (6, "too"), (7, "no")]
    assert "line 5" in str(log.issues[0])
    assert log.reordered == 1
    first = log.events[0]
    assert (first.sensor, first.state, first.location, first.label) == (
        "D001",
        "CLOSE",
        "Ignore Ignore",
        "Control4-Door",
    )
    by_line = {e.line_no: e for e in log.events}
    assert by_line[1].label == "Sleep begin"
    assert (by_line[2].sensor, by_line[2].location) == ("M022", "Bedroom")
    assert by_line[3].ts.microsecond == 123456
    assert "5 events" in log.summary()
    assert "3 malformed" in log.summary()


def test_replay_values_and_unmapped_counts() -> None:
    log = parse_casas(SAMPLE.splitlines())
    result = replay(log, home_id="casas02")
    values = [(r.device_id, r.values) for r in result.readings]
    assert ("casas02-d001", {"contact": True}) in values
    assert ("casas02-t101", {"temperature": 21.5}) in values
    assert ("casas02-m021", {"occupancy": True}) in values
    assert dict(result.unmapped) == {"L003": 1}
    with pytest.raises(ReplayError):
        replay(log, home_id="x", start=None)
    with pytest.raises(ReplayError):
        replay(log, home_id="casas02", start=datetime(2026, 1, 1))  # noqa: DTZ001


def test_mapping_files_override_inference(tmp_path: Path) -> None:
    lines = [
        "2016-07-12 08:00:00\tKitchenASink\tON\t",
        "2016-07-12 08:01:30\tKitchenASink\tOFF\t",
        "2016-07-12 08:02:00\tOfficeAArea\tON\t",
        "2016-07-12 08:03:00\tWidget\tON\t",
    ]
    log = parse_casas(lines)
    as_json = tmp_path / "map.json"
    as_json.write_text(
        json.dumps(
            {
                "KitchenASink": {"room": "kitchen", "kind": "water_meter"},
                "OfficeAArea": None,
                "Widget": {"room": "living_room", "kind": "sos_button"},
            }
        )
    )
    as_csv = tmp_path / "map.csv"
    as_csv.write_text(
        "sensor,room,kind\nKitchenASink,kitchen,water_meter\nOfficeAArea,,ignore\nWidget,living_room,sos_button\n"
    )
    for path in (as_json, as_csv):
        result = replay(log, home_id="casas03", mapping=load_mapping(path), flow_l_per_min=4.0)
        assert [(r.device_id, r.kind, r.values) for r in result.readings] == [
            ("casas03-kitchenasink", DeviceKind.WATER_METER, {"water_total_l": 6.0}),
            ("casas03-widget", DeviceKind.SOS_BUTTON, {"action": "sos"}),
        ]
        assert dict(result.unmapped) == {"OfficeAArea": 1}
    bad = tmp_path / "bad.csv"
    bad.write_text("sensor,room,kind\nX,attic,motion\n")
    with pytest.raises(ReplayError, match=r"bad\.csv:2"):
        load_mapping(bad)
    with pytest.raises(ReplayError):
        load_mapping(tmp_path / "missing.json")
