"""Partitions of the homes among rules workers, and the urgent lane's routing helpers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devices import topics
from devices.errors import ValidationFailed
from devices.types import DeviceKind
from monitor.ingest.pipeline import DeviceIndex, DeviceInfo, RawMessage
from monitor.runner.partition import Partition
from monitor.runner.urgent import Dedup, urgent_topics


def test_every_home_has_exactly_one_owner_and_the_split_is_stable() -> None:
    homes = [f"home-{i}" for i in range(3000)]
    parts = [Partition(i, 3) for i in range(3)]
    owners = [[p.owns(h) for p in parts].count(True) for h in homes]
    assert owners == [1] * len(homes)
    shares = [sum(p.owns(h) for h in homes) for p in parts]
    assert all(800 < s < 1200 for s in shares)  # roughly even
    assert Partition(1, 3).owns("home-7") == Partition.parse("1/3").owns("home-7")  # crc32, not hash()
    assert all(Partition().owns(h) for h in homes[:10])


@pytest.mark.parametrize("text", ["", "1", "2/2", "a/2", "-1/2", "0/0"])
def test_bad_partitions_are_refused(text: str) -> None:
    with pytest.raises(ValidationFailed):
        Partition.parse(text)


def test_urgent_topics_are_the_owned_life_safety_devices() -> None:
    index = DeviceIndex()
    for dev, kind, home in [
        ("sos-a", DeviceKind.SOS_BUTTON, "h1"),
        ("smoke-a", DeviceKind.SMOKE, "h1"),
        ("motion-a", DeviceKind.MOTION, "h1"),
        ("sos-b", DeviceKind.SOS_BUTTON, "h2"),
    ]:
        index.by_id[dev] = DeviceInfo(dev, kind, home, None, "provisioned")
    index.by_z2m[("gw-1", "kitchen smoke")] = "smoke-a"
    index.by_z2m[("gw-1", "hall motion")] = "motion-a"
    got = urgent_topics(index, lambda home: home == "h1")
    assert got == {
        topics.device_event("sos-a"),
        topics.device_event("smoke-a"),
        topics.gateway_z2m("gw-1", "kitchen smoke"),
    }


def test_dedup_takes_the_first_copy_only() -> None:
    now = datetime.now(UTC)
    dedup = Dedup(keep=2)
    a = RawMessage("t/a", b"1", now)
    assert dedup.first(a)
    assert not dedup.first(RawMessage("t/a", b"1", now))  # the other session's copy
    assert dedup.first(RawMessage("t/a", b"2", now))  # another press
    dedup.first(RawMessage("t/b", b"1", now))
    assert dedup.first(a)  # forgotten after ``keep`` newer messages
