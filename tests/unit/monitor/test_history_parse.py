"""History parsers: any text gives rows or reasons with line numbers, never an exception; good rows round-trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.types import DeviceKind
from monitor.history.parse import Bad, Row, parse_csv, parse_time, parse_z2m_log

TZ = ZoneInfo("Asia/Shanghai")
# Hypothesis bounds are naive (the zone is drawn separately).
NAIVE_2001, NAIVE_2090 = (
    datetime(2001, 1, 1, tzinfo=UTC).replace(tzinfo=None),
    datetime(2090, 1, 1, tzinfo=UTC).replace(tzinfo=None),
)
NAIVE_1971, NAIVE_2199 = (
    datetime(1971, 1, 1, tzinfo=UTC).replace(tzinfo=None),
    datetime(2199, 1, 1, tzinfo=UTC).replace(tzinfo=None),
)
DEVICES = {"m-1": DeviceKind.MOTION, "t-1": DeviceKind.TEMPERATURE}
BY_NAME = {"hall_pir": ("m-1", DeviceKind.MOTION)}
HEADER = "time,device_id,values,seq"
junk = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)
line = st.one_of(
    junk,
    st.builds(lambda a, b, c: f"{a},{b},{c}", junk, st.sampled_from(["m-1", "t-1", "x"]), junk),
    st.builds(
        lambda t, p: f"Zigbee2MQTT:info  {t}: MQTT publish: topic 'zigbee2mqtt/hall_pir', payload '{p}'",
        st.sampled_from(["2024-01-05 10:11:12", "2024-13-05 10:11:12", "x"]),
        junk,
    ),
)


def _check(out: list[Row | Bad], n_lines: int) -> None:
    for item in out:
        assert 1 <= item.line_no <= n_lines
        if isinstance(item, Bad):
            assert item.reason
            assert str(item).startswith(f"line {item.line_no}: ")
        else:
            assert item.reading.ts.tzinfo is not None
    numbers = [i.line_no for i in out]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers)


@settings(max_examples=300)
@given(st.lists(line, max_size=30))
def test_csv_never_raises(lines: list[str]) -> None:
    out = list(parse_csv([HEADER, *lines], devices=DEVICES, tz=TZ))
    _check(out, len(lines) + 1)


@settings(max_examples=300)
@given(st.lists(line, max_size=30))
def test_z2m_never_raises(lines: list[str]) -> None:
    out = list(parse_z2m_log(lines, devices=BY_NAME, tz=TZ))
    _check(out, len(lines))


@given(
    st.lists(
        st.tuples(
            st.datetimes(min_value=NAIVE_2001, max_value=NAIVE_2090, timezones=st.just(UTC)),
            st.booleans(),
            st.integers(0, 2**63 - 1) | st.none(),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_csv_round_trip(rows: list[tuple[datetime, bool, int | None]]) -> None:
    lines = [HEADER] + [
        f'{t.isoformat()},m-1,"{json.dumps({"occupancy": on}).replace(chr(34), chr(34) * 2)}",{"" if s is None else s}'
        for t, on, s in rows
    ]
    out = list(parse_csv(lines, devices=DEVICES, tz=TZ))
    assert all(isinstance(o, Row) for o in out), out
    for n, (o, (t, on, s)) in enumerate(zip(out, rows, strict=True), start=2):
        assert isinstance(o, Row)
        assert o.line_no == n
        assert o.reading.ts == t
        assert o.reading.values == {"occupancy": on}
        assert o.reading.seq == (n if s is None else s)  # no seq column value: the line number (idempotent)


def test_csv_bad_rows_have_reasons() -> None:
    lines = [
        HEADER,
        '2024-01-05T10:00:00,m-1,"{""occupancy"": true}",',
        '2024-01-05T10:00:00,nobody,"{""occupancy"": true}",',
        "yesterday,m-1,{},",
        '2024-01-05T10:00:00,t-1,"{""temperature"": 1e400}",',
        '2024-01-05T10:00:00,t-1,"{""temperature"": ""warm""}",',
        "2024-01-05T10:00:00,m-1",
    ]
    out = list(parse_csv(lines, devices=DEVICES, tz=TZ))
    assert isinstance(out[0], Row)
    assert out[0].reading.ts == datetime(2024, 1, 5, 10, tzinfo=TZ)
    bad = {o.line_no: o.reason for o in out if isinstance(o, Bad)}
    assert sorted(bad) == [3, 4, 5, 6, 7]
    assert "unknown device" in bad[3]
    assert "ISO 8601" in bad[4]
    assert "fields" in bad[7]


def test_csv_header_missing_columns() -> None:
    out = list(parse_csv(["when,who", "1,2"], devices=DEVICES, tz=TZ))
    assert len(out) == 1
    assert isinstance(out[0], Bad)
    assert "header lacks time" in out[0].reason


def test_z2m_both_layouts_and_skips() -> None:
    lines = [
        "Zigbee2MQTT:info  2024-01-05 10:11:12: MQTT publish: topic 'zigbee2mqtt/hall_pir', payload "
        '\'{"occupancy":true,"battery":90}\'',
        "[2024-01-05 10:12:00] info: \tz2m:mqtt: MQTT publish: topic 'zigbee2mqtt/hall_pir', payload "
        "'{\"occupancy\":false}'",
        "Zigbee2MQTT:info  2024-01-05 10:13:00: MQTT publish: topic 'zigbee2mqtt/bridge/state', payload 'online'",
        "Zigbee2MQTT:info  2024-01-05 10:13:00: Starting zigbee-herdsman",
        "Zigbee2MQTT:info  2024-01-05 10:14:00: MQTT publish: topic 'zigbee2mqtt/kettle', payload '{}'",
        "Zigbee2MQTT:info  2024-01-05 10:15:00: MQTT publish: topic 'zigbee2mqtt/hall_pir', payload '{nope'",
    ]
    out = list(parse_z2m_log(lines, devices=BY_NAME, tz=TZ))
    rows = [o for o in out if isinstance(o, Row)]
    assert [r.line_no for r in rows] == [1, 2]
    assert rows[0].reading.ts == datetime(2024, 1, 5, 10, 11, 12, tzinfo=TZ)
    assert rows[1].reading.values == {"occupancy": False}
    assert {o.line_no for o in out if isinstance(o, Bad)} == {5, 6}


@given(st.datetimes(min_value=NAIVE_1971, max_value=NAIVE_2199))
def test_parse_time_naive_is_local(t: datetime) -> None:
    assert parse_time(t.isoformat(), TZ) == t.replace(tzinfo=TZ)
    assert parse_time((t.replace(tzinfo=UTC) + timedelta(0)).isoformat(), TZ).utcoffset() == timedelta(0)
