"""``eldercare ingest``: one ingest worker process until SIGTERM/SIGINT, then a clean flush."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from devices.settings import DbSettings, MqttSettings
from monitor.ingest.worker import IngestConfig, IngestWorker

log = logging.getLogger("eldercare.ingest")


def run(
    mqtt_settings: MqttSettings, db: DbSettings, cfg: IngestConfig, *, metrics_port: int | None = None
) -> None:
    worker = IngestWorker(mqtt_settings, db, cfg)
    done = threading.Event()
    if metrics_port is not None:
        from prometheus_client import REGISTRY

        from monitor import ops_http
        from monitor.ingest.metrics import IngestCollector

        REGISTRY.register(IngestCollector(worker))

        def ready() -> tuple[bool, str]:
            if not worker.connected.is_set():
                return False, "not connected to the broker"
            return (False, "database unreachable: spooling") if len(worker.spool) else (True, "ready")

        server = ops_http.serve(metrics_port, ready)
        log.info("metrics and health on http://127.0.0.1:%d/metrics", server.server_address[1])

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
