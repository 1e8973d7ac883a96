from __future__ import annotations

import pytest

from devices.types import Room
from simulators.engine import Day, HomeSim
from simulators.home import Home, Profile, build_home
from simulators.incidents import parse_spec
from simulators.schedule import validate
from tests.unit.simulators.sim_helpers import START, SimRunner, run_days


@pytest.fixture
def simulate() -> SimRunner:
    def run(
        spec: str = "",
        *,
        days: int = 3,
        seed: int = 7,
        detectors: tuple[Room, ...] = (),
        profile: Profile = Profile.MIXED,
        home_id: str = "h00001",
    ) -> tuple[Home, list[Day]]:
        home = build_home(home_id, profile=profile, fall_detector_rooms=detectors, seed=seed)
        plan = validate(parse_spec(spec), start=START, days=days, homes=[home], seed=seed) if spec else None
        return home, run_days(HomeSim(home, start=START, days=days, seed=seed, plan=plan))

    return run
