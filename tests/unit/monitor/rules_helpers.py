"""Builders for rule-engine tests: a furnished home, readings and a driver with an injected clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from devices.types import DeviceKind, Reading, Room
from monitor.rules import AlertCandidate, Baseline, DeviceInfo, HomeContext, HomeState, ResidentSettings
from monitor.rules.engine import on_reading, on_tick

TZ = ZoneInfo("Asia/Shanghai")

DEVICES: dict[str, DeviceInfo] = {
    "m-bed": DeviceInfo(DeviceKind.MOTION, Room.BEDROOM),
    "m-bath": DeviceInfo(DeviceKind.MOTION, Room.BATHROOM),
    "m-kit": DeviceInfo(DeviceKind.MOTION, Room.KITCHEN),
    "m-liv": DeviceInfo(DeviceKind.MOTION, Room.LIVING_ROOM, "gw-1"),
    "door-front": DeviceInfo(DeviceKind.DOOR, Room.ENTRANCE),
    "bed-1": DeviceInfo(DeviceKind.BED, Room.BEDROOM),
    "water-1": DeviceInfo(DeviceKind.WATER_METER, Room.KITCHEN),
    "smoke-1": DeviceInfo(DeviceKind.SMOKE, Room.KITCHEN, "gw-1"),
    "gas-1": DeviceInfo(DeviceKind.GAS, Room.KITCHEN),
    "leak-1": DeviceInfo(DeviceKind.WATER_LEAK, Room.BATHROOM),
    "temp-1": DeviceInfo(DeviceKind.TEMPERATURE, Room.LIVING_ROOM),
    "sos-1": DeviceInfo(DeviceKind.SOS_BUTTON, Room.BEDROOM),
    "fall-1": DeviceInfo(DeviceKind.FALL_DETECTOR, Room.BATHROOM),
    "gw-1": DeviceInfo(DeviceKind.GATEWAY, Room.OTHER),
}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A local (Asia/Shanghai) time in March 2024."""
    return datetime(2024, 3, day, hour, minute, tzinfo=TZ)


def kinds(cands: list[AlertCandidate], *, cleared: bool = False) -> list[str]:
    return [c.kind.value for c in cands if c.clear == cleared]


@dataclass
class Home:
    """Drives the engine for one home; every call passes an explicit ``now``."""

    ctx: HomeContext
    settings: ResidentSettings = field(default_factory=ResidentSettings)
    baseline: Baseline = field(default_factory=Baseline)
    state: HomeState = field(default_factory=HomeState)
    seq: int = 0
    log: list[AlertCandidate] = field(default_factory=list)

    def read(
        self, device: str, ts: datetime, now: datetime | None = None, **values: Any
    ) -> list[AlertCandidate]:
        self.seq += 1
        kind = self.ctx.devices[device].kind if device in self.ctx.devices else DeviceKind.MOTION
        reading = Reading(device, ts, self.seq, kind, values)
        out = on_reading(self.state, self.ctx, self.settings, self.baseline, reading, now or ts)
        self.log += out
        return out

    def motion(self, device: str, ts: datetime) -> list[AlertCandidate]:
        return self.read(device, ts, occupancy=True) + self.read(
            device, ts + timedelta(seconds=60), occupancy=False
        )

    def tick(self, now: datetime) -> list[AlertCandidate]:
        out = on_tick(self.state, self.ctx, self.settings, self.baseline, now)
        self.log += out
        return out

    def ticks(self, start: datetime, end: datetime, step_min: int = 5) -> list[AlertCandidate]:
        out: list[AlertCandidate] = []
        t = start
        while t <= end:
            out += self.tick(t)
            t += timedelta(minutes=step_min)
        return out


def make_home(*, resident: str | None = "r-1", without: tuple[str, ...] = (), **settings: Any) -> Home:
    devices = {k: v for k, v in DEVICES.items() if k not in without}
    ctx = HomeContext(home_id="h-1", resident_id=resident, devices=devices, timezone="Asia/Shanghai")
    return Home(ctx=ctx, settings=ResidentSettings(**settings))
