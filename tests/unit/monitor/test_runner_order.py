"""The rules worker's routing: life-safety messages jump the queue on the wall clock, never on the data clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from devices.settings import DbSettings, MqttSettings
from devices.types import DeviceKind
from monitor.consumer import Pending
from monitor.ingest.pipeline import DeviceInfo, RawMessage
from monitor.runner.worker import RulesConfig, RulesWorker


def _worker(tmp_path: Path, clock: str) -> RulesWorker:
    db = DbSettings(url=SecretStr("postgresql://nobody@127.0.0.1:1/none"))
    worker = RulesWorker(MqttSettings(), db, RulesConfig(clock=clock))
    for device, kind in (("sos-1", DeviceKind.SOS_BUTTON), ("m-1", DeviceKind.MOTION)):
        worker.link.index.by_id[device] = DeviceInfo(device, kind, "h-1", "bedroom", "provisioned")
    return worker


def _pending(device: str, mid: int) -> Pending:
    msg = RawMessage(f"eldercare/v1/devices/{device}/event", b"{}", datetime.now(UTC))
    return Pending(0, mid, 1, msg)


def _routed(worker: RulesWorker) -> tuple[list[int], list[int]]:
    queued = []
    while not worker.queue.empty():
        queued.append(worker.queue.get().mid)
    return queued, [p.mid for p in worker._urgent]


def test_on_the_wall_clock_an_sos_jumps_the_queue(tmp_path: Path) -> None:
    worker = _worker(tmp_path, "wall")
    for mid, device in enumerate(("m-1", "m-1", "sos-1", "m-1")):
        worker._enqueue(_pending(device, mid))
    assert _routed(worker) == ([0, 1, 3], [2])
    assert worker.use_lane


def test_on_the_data_clock_everything_keeps_stream_order(tmp_path: Path) -> None:
    """An SOS evaluated ahead of the readings queued before it would judge its home without them."""
    worker = _worker(tmp_path, "data")
    for mid, device in enumerate(("m-1", "m-1", "sos-1", "m-1")):
        worker._enqueue(_pending(device, mid))
    assert _routed(worker) == ([0, 1, 2, 3], [])
    assert not worker.use_lane  # no second session either
