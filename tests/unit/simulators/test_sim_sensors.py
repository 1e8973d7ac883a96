from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta

from devices.types import DEVICE_ID_RE, DeviceKind, Reading
from simulators.engine import HomeSim
from simulators.home import BATTERY_KINDS, Home, Profile, Transport, build_home, neighbourhood_home
from tests.unit.simulators.sim_helpers import START, readings_of, run_days


def test_home_layout_ids_and_transports() -> None:
    home = build_home("h00007", profile=Profile.MIXED, seed=1)
    kinds = {(d.room.value, d.kind.value) for d in home.devices}
    for room in ("bedroom", "bathroom", "kitchen", "living_room", "entrance"):
        assert (room, "motion") in kinds
    for pair in [("entrance", "door"), ("bedroom", "bed"), ("living_room", "chair"), ("kitchen", "smoke")]:
        assert pair in kinds
    assert {k for _, k in kinds} >= {
        "gas",
        "water_leak",
        "temperature",
        "water_meter",
        "power_meter",
        "sos_button",
    }
    assert all(DEVICE_ID_RE.match(d.device_id) and d.device_id.startswith("h00007-") for d in home.devices)
    assert len({d.device_id for d in home.devices}) == len(home.devices)
    z2m = home.gateway_devices()
    assert z2m
    assert len(z2m) < len(home.devices) - 1
    assert all(d.gateway_id == home.gateway_id and d.friendly_name for d in z2m)
    assert z2m[0].topic == f"eldercare/v1/gateways/h00007-gateway/z2m/{z2m[0].friendly_name}"
    native = home.find(DeviceKind.WATER_METER)
    assert native is not None
    assert native.transport is Transport.NATIVE
    assert native.topic == "eldercare/v1/devices/h00007-kitchen-water_meter/event"
    assert build_home("h00008", profile=Profile.NATIVE).gateway_id is None


def test_a_neighbourhood_mixes_native_and_gateway_homes() -> None:
    homes = [neighbourhood_home(i) for i in range(30)]
    assert any(h.gateway_id is None for h in homes)
    assert any(h.gateway_id is not None for h in homes)
    assert any(h.find(DeviceKind.FALL_DETECTOR) for h in homes)
    assert any(not h.find(DeviceKind.FALL_DETECTOR) for h in homes)


def _two_days(seed: int = 4) -> tuple[Home, list[Reading]]:
    home = build_home("h00001", seed=seed)
    return home, readings_of(run_days(HomeSim(home, start=START, days=2, seed=seed)))


def test_readings_are_in_time_order_with_monotonic_seq_per_device() -> None:
    _, readings = _two_days()
    stamps = [r.ts for r in readings]
    assert stamps == sorted(stamps)
    seqs: dict[str, list[int]] = defaultdict(list)
    for r in readings:
        seqs[r.device_id].append(r.seq)
        assert r.ts.utcoffset() == timedelta(0)
    assert all(s == list(range(1, len(s) + 1)) for s in seqs.values())


def test_pir_has_a_blind_time_and_clears() -> None:
    _, readings = _two_days()
    by_device: dict[str, list[Reading]] = defaultdict(list)
    for r in readings:
        if r.kind is DeviceKind.MOTION and "occupancy" in r.values:
            by_device[r.device_id].append(r)
    for events in by_device.values():
        detections = [r.ts.timestamp() for r in events if r.values["occupancy"]]
        gaps = [b - a for a, b in itertools.pairwise(detections)]
        assert min(gaps) >= 60
        clears = [r for r in events if not r.values["occupancy"]]
        assert clears
        for clear in clears:  # cleared only after the blind time plus a hold without detection
            prior = [t for t in detections if t <= clear.ts.timestamp()]
            assert clear.ts.timestamp() - prior[-1] >= 90


def test_counters_and_batteries_never_go_backwards() -> None:
    _, readings = _two_days()
    for metric in ("water_total_l", "energy_total_wh"):
        values = [r.values[metric] for r in readings if metric in r.values]
        assert len(values) > 150
        assert values == sorted(values)
        assert values[-1] > values[0]
    batteries: dict[str, list[int]] = defaultdict(list)
    for r in readings:
        if "battery" in r.values:
            batteries[r.device_id].append(r.values["battery"])
    assert all(b == sorted(b, reverse=True) for b in batteries.values())


def test_heartbeats_every_half_hour_for_battery_devices() -> None:
    home, readings = _two_days()
    beats: dict[str, int] = defaultdict(int)
    for r in readings:
        if r.values.get("heartbeat"):
            beats[r.device_id] += 1
    for device in home.devices:
        if device.kind in BATTERY_KINDS and device.kind is not DeviceKind.TEMPERATURE:
            assert beats[device.device_id] == 96  # two days
    assert all(
        "battery" in r.values for r in readings if r.values.get("heartbeat") and r.device_id.endswith("door")
    )


def test_temperature_drifts_within_a_plausible_band() -> None:
    _, readings = _two_days()
    temps = [r.values["temperature"] for r in readings if "temperature" in r.values]
    assert len(temps) >= 96
    assert 17 <= min(temps) < max(temps) <= 28
    assert max(temps) - min(temps) >= 0.5


def test_same_seed_same_readings_other_seed_differs() -> None:
    first = repr(_two_days(4)[1])
    assert first == repr(_two_days(4)[1])
    assert first != repr(_two_days(5)[1])


def test_going_out_the_resident_leaves_the_chair_or_bed_before_reaching_the_door() -> None:
    """A chair or bed is vacated when someone stands up, before the walk to the door, not as it opens."""
    gaps: list[float] = []
    for seed in range(6):
        home = build_home("h00001", seed=seed)
        readings = readings_of(run_days(HomeSim(home, start=START, days=3, seed=seed)))
        seats = [r for r in readings if r.kind in (DeviceKind.CHAIR, DeviceKind.BED)]
        for door in (r for r in readings if r.kind == DeviceKind.DOOR and r.values.get("contact") is False):
            left = [
                s
                for s in seats
                if s.values.get("occupancy") is False and abs(s.ts - door.ts) < timedelta(minutes=2)
            ]
            gaps += [(door.ts - s.ts).total_seconds() for s in left]
    assert any(30 <= g <= 60 for g in gaps), "no outing straight from the chair or bed in the sample"
    assert all(abs(g) >= 10 for g in gaps), sorted(gaps, key=abs)[:5]  # never as the door opens
