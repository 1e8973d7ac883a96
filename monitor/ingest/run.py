"""``eldercare ingest``: one ingest worker process until SIGTERM/SIGINT, then a clean flush."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from devices.settings import DbSettings, MqttSettings
from monitor.ingest.worker import IngestConfig, IngestWorker

log = logging.getLogger("eldercare.ingest")


def run(mqtt_settings: MqttSettings, db: DbSettings, cfg: IngestConfig) -> None:
    worker = IngestWorker(mqtt_settings, db, cfg)
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: flushing and stopping", signal.Signals(signum).name)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    writer = worker.start()
    if not worker.connected.wait(15):
        log.warning("not connected to the broker yet; retrying in the background")
    while not done.wait(1.0):
        if not writer.is_alive():
            raise RuntimeError("ingest writer thread died")
    worker.stop(writer)
