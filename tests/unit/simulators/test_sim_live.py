from __future__ import annotations

import math
import random
import re
import threading
from datetime import UTC, datetime, timedelta

from devices.types import DEVICE_ID_RE, DeviceKind, Reading
from simulators.clock import SimClock
from simulators.engine import HomeSim
from simulators.home import HOME_ID_RE, build_home
from simulators.incidents import IncidentKind, TruthRecord, parse_spec
from simulators.live import due_at, run_live, tag
from simulators.schedule import validate
from simulators.station import _near, home_prefix, publishing_accounts, station_homes
from tests.unit.simulators.sim_helpers import START, SimRunner, readings_of


class FakeTime:
    """A wall clock that only moves when the code under test waits."""

    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


class FakeStop(threading.Event):
    def __init__(self, clock: FakeTime) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        self.clock.t += timeout or 0.0
        return self.is_set()


def _reading(device: str, ts: float, seq: int) -> Reading:
    return Reading(device, datetime.fromtimestamp(ts, UTC), seq, DeviceKind.MOTION, {"occupancy": True})


def test_run_live_publishes_in_time_order_paced_by_the_clock() -> None:
    home = build_home("h00001")
    t0 = START.timestamp()
    a = [(t0 + 10 * i, _reading("a", t0 + 10 * i, i + 1)) for i in range(5)]
    b = [(t0 + 10 * i + 5, _reading("b", t0 + 10 * i + 5, i + 1)) for i in range(5)]
    truth = TruthRecord(
        "h00001", IncidentKind.SOS, START + timedelta(seconds=12), START + timedelta(seconds=13)
    )
    c: list[tuple[float, object]] = [(t0 + 12, truth)]
    wall = FakeTime(1e10)  # long after the simulated times: pacing follows the clock
    sent: list[tuple[float, object]] = []
    truths: list[TruthRecord] = []
    prog = run_live(
        [tag(home, s) for s in (a, b, c)],
        clock=SimClock(START, wall.t, speed=10),
        publish=lambda _h, item: sent.append((wall.t, item)),
        on_truth=truths.append,
        stop=FakeStop(wall),
        now=wall.now,
    )
    stamps = [item.ts.timestamp() for _, item in sent if isinstance(item, Reading)]
    assert stamps == sorted(stamps)
    assert len(stamps) == 10
    for when, item in sent:
        assert isinstance(item, Reading)
        assert when >= 1e10 + (item.ts.timestamp() - t0) / 10
    assert truths == [truth]
    assert (prog.published, prog.incidents, prog.done) == (10, 1, True)


def test_run_live_stops_at_the_deadline_and_on_request() -> None:
    home = build_home("h00001")
    t0 = START.timestamp()
    items = [(t0 + 60 * i, _reading("a", t0 + 60 * i, i + 1)) for i in range(100)]
    wall = FakeTime(1e10)
    prog = run_live(
        [tag(home, items)],
        clock=SimClock(START, wall.t, speed=60),  # one item per real second
        publish=lambda _h, _i: None,
        on_truth=lambda _r: None,
        stop=FakeStop(wall),
        deadline=1e10 + 10.5,
        now=wall.now,
    )
    assert prog.published == 11
    assert not prog.done
    stop = FakeStop(wall)
    stop.set()
    assert run_live([tag(home, items)], clock=SimClock(START, wall.t), publish=lambda _h, _i: None,
                    on_truth=lambda _r: None, stop=stop, now=wall.now).published == 0  # fmt: skip


def test_readings_are_never_due_before_their_own_timestamp() -> None:
    now = datetime.now(UTC)
    clock = SimClock(now - timedelta(hours=1), now.timestamp(), speed=100)
    # An hour back at speed 100 catches up after 36 s; later items follow the real clock.
    assert due_at(clock, (now - timedelta(hours=1)).timestamp()) == now.timestamp()
    assert math.isclose(due_at(clock, now.timestamp()), now.timestamp() + 36)
    later = now.timestamp() + 3600
    assert due_at(clock, later) == later


def test_station_home_ids_are_stable_valid_and_distinct() -> None:
    homes = station_homes("ST-North 1", 4, seed=7)
    assert [h.home_id for h in homes] == [f"st-north-1-s7-h0000{i}" for i in range(1, 5)]
    assert [h.home_id for h in station_homes("ST-North 1", 4, seed=7)] == [h.home_id for h in homes]
    assert home_prefix("ST-North 1", 8) != home_prefix("ST-North 1", 7)
    long_prefix = home_prefix("a-very-long-station-identifier-for-testing", 123456)
    assert re.fullmatch(r"[a-z0-9-]+-[0-9a-f]{8}-h", long_prefix)
    for station in ("ST-North 1", "a-very-long-station-identifier-for-testing", "站"):
        for home in station_homes(station, 2, seed=123456):
            assert HOME_ID_RE.match(home.home_id)
            assert all(DEVICE_ID_RE.match(d.device_id) for d in home.devices)
    accounts = publishing_accounts(homes)
    bridged = {d.device_id for h in homes for d in h.gateway_devices()}
    assert accounts
    assert not bridged & set(accounts)
    assert {h.gateway_id for h in homes if h.gateway_id} <= set(accounts)


def test_homes_are_placed_within_a_kilometre() -> None:
    rng = random.Random(1)
    for _ in range(200):
        lat, lon = _near(rng, 29.72, 106.63)
        dy = (lat - 29.72) * 111_320
        dx = (lon - 106.63) * 111_320 * math.cos(math.radians(29.72))
        assert math.hypot(dx, dy) <= 1001


def test_a_replaced_battery_stays_new_for_days(simulate: SimRunner) -> None:
    _, days = simulate("battery_depleted@day1 20:00+12h", days=5)
    (truth,) = [item for d in days for _, item in d.items if isinstance(item, TruthRecord)]
    device = truth.details["device_id"]
    readings = readings_of(days)
    after = [
        r.values["battery"]
        for r in readings
        if r.device_id == device and r.ts > truth.end and "battery" in r.values
    ]
    assert len(after) > 48 * 3  # heartbeats for more than three days after the replacement
    assert min(after) >= 98


def test_the_same_incident_twice_at_once_is_injected_once() -> None:
    home = build_home("h00001", seed=2)
    plan = validate(
        parse_spec("smoke@day1 10:00+1h,smoke@day1 10:30+1h"), start=START, days=1, homes=[home], seed=2
    )
    sim = HomeSim(home, start=START, days=1, seed=2, plan=plan)
    truths = [item for _, item in sim.day().items if isinstance(item, TruthRecord)]
    assert [t.kind for t in truths] == [IncidentKind.SMOKE]
