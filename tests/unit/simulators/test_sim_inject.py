"""Incidents injected into a real log: the --inject/--heartbeat parsers, the seeded draw, the log as changed."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.types import DeviceKind, Reading, Room
from simulators.errors import IncidentSpecError
from simulators.home import Device, Home
from simulators.inject import (
    SPACING,
    Collapse,
    activity,
    draw_collapses,
    heartbeats,
    inject,
    parse_heartbeat,
    parse_inject,
)

TZ = ZoneInfo("Asia/Shanghai")
HOME = Home("h-inj", (Device("h-inj-kit", DeviceKind.MOTION, Room.KITCHEN),
                      Device("h-inj-liv", DeviceKind.MOTION, Room.LIVING_ROOM),
                      Device("h-inj-bed", DeviceKind.BED, Room.BEDROOM)))  # fmt: skip


def _log(days: int) -> list[Reading]:
    """Movement every 5 minutes from 07:00 to 22:00, alternating kitchen and living room."""
    out, seq = [], 0
    for d in range(days):
        t = datetime(2016, 7, 12 + d, 7, tzinfo=TZ)
        while t.hour < 22:
            seq += 1
            dev = "h-inj-kit" if seq % 2 else "h-inj-liv"
            out.append(Reading(dev, t, seq, DeviceKind.MOTION, {"occupancy": True}))
            t += timedelta(minutes=5)
    return out


@given(st.lists(st.text(max_size=60), max_size=5))
def test_parse_inject_refuses_with_a_reason_never_crashes(items: list[str]) -> None:
    try:
        parse_inject(items, tz=TZ)
        reason = "parsed"
    except IncidentSpecError as exc:
        reason = str(exc)
    assert reason  # a refusal always says why


@given(st.text(max_size=30))
def test_parse_heartbeat_refuses_with_a_reason(text: str) -> None:
    try:
        kind, every = parse_heartbeat(text)
    except IncidentSpecError as exc:
        kind, every = str(exc), 1.0
        assert kind  # the refusal says why
    assert kind in ("temperature", "battery") or "KIND" in kind
    assert 1 <= every <= 240


def test_parse_inject_values() -> None:
    spec = parse_inject(["collapse@2016-07-17T10:00:00:kitchen", "collapse@2016-07-17T11:00", "random:3",
                         "away@2016-07-14T08:00/2016-07-15T20:00"], tz=TZ)  # fmt: skip
    assert spec.collapses == [Collapse(datetime(2016, 7, 17, 10, tzinfo=TZ), Room.KITCHEN),
                              Collapse(datetime(2016, 7, 17, 11, tzinfo=TZ), None)]  # fmt: skip
    assert spec.random == 3
    assert spec.away == [(datetime(2016, 7, 14, 8, tzinfo=TZ), datetime(2016, 7, 15, 20, tzinfo=TZ))]
    for bad in ("collapse@2016-07-17T10:00:00:attic", "away@2016-07-15/2016-07-14", "random:0", "fire@now"):
        with pytest.raises(IncidentSpecError):
            parse_inject([bad], tz=TZ)


@given(st.integers(0, 10_000), st.integers(1, 12))
def test_draw_is_seeded_daytime_at_home_and_spaced(seed: int, n: int) -> None:
    log = _log(3)
    seen = activity(log, HOME)
    after, until = datetime(2016, 7, 12, tzinfo=TZ), datetime(2016, 7, 14, 22, tzinfo=TZ)
    rooms = [Room.KITCHEN, Room.LIVING_ROOM]
    copies = draw_collapses(seen, rooms=rooms, after=after, until=until, n=n, seed=seed, tz=TZ)
    again = draw_collapses(seen, rooms=rooms, after=after, until=until, n=n, seed=seed, tz=TZ)
    assert copies == again
    flat = [c for cs in copies for c in cs]
    assert len(flat) == n
    assert {c.room for c in flat} == set(rooms[: min(n, 2)])
    for cs in copies:
        assert all(b.start - a.start >= SPACING for a, b in itertools.pairwise(cs))
    for c in flat:
        assert 8 <= c.start.hour < 20
        assert after <= c.start <= until - timedelta(hours=4)
        assert any(timedelta(0) <= c.start - t <= timedelta(minutes=30) for t, _ in seen)


def test_inject_stops_activity_and_keeps_the_ambient_devices() -> None:
    log = _log(1)
    _, beats = heartbeats(HOME, "temperature", 10, start=log[0].ts, end=log[-1].ts)
    c = Collapse(datetime(2016, 7, 12, 10, 2, tzinfo=TZ), Room.KITCHEN)
    out = inject(sorted(log + beats, key=lambda r: r.ts), HOME, [c])
    during = [r for r in out if c.start < r.ts < c.end]
    assert during
    moving = [r for r in during if r.values.get("occupancy") is True]
    assert moving == []  # nothing moves; the thermometer reports, the room's sensor times out
    assert {r.device_id for r in during} == {"h-inj-hb-temperature", "h-inj-kit"}
    last = max((r for r in out if r.ts <= c.start and r.values.get("occupancy") is True), key=lambda r: r.ts)
    assert last.device_id == "h-inj-kit"  # the last movement is in the collapse's room, at its start
    assert last.ts == c.start
    assert any(r.ts > c.end and r.device_id == "h-inj-liv" for r in out)  # the log goes on afterwards
    assert [r.ts for r in out] == sorted(r.ts for r in out)
