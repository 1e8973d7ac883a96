"""``eldercare ingest``: one ingest worker process until SIGTERM/SIGINT, then a clean flush."""

from __future__ import annotations

import logging

from devices.settings import DbSettings, MqttSettings
from monitor.ingest.worker import IngestConfig, IngestWorker
from monitor.process import Process

log = logging.getLogger("eldercare.ingest")


def run(
    mqtt_settings: MqttSettings, db: DbSettings, cfg: IngestConfig, *, metrics_port: int | None = None
) -> None:
    proc = Process("ingest", log=log)
    worker = IngestWorker(mqtt_settings, db, cfg)
    if metrics_port is not None:
        from prometheus_client import REGISTRY

        from monitor.ingest.metrics import IngestCollector

        REGISTRY.register(IngestCollector(worker))

    def ready() -> tuple[bool, str]:
        if not worker.connected.is_set():
            refused = worker.session.refused
            return (
                False,
                f"broker refused the connection: {refused}" if refused else "not connected to the broker",
            )
        return (False, "database unreachable: spooling") if len(worker.spool) else (True, "ready")

    proc.serve_health(metrics_port, ready)
    proc.install_signals()
    writer = worker.start(proc.spawn)
    if not worker.connected.wait(15):
        log.warning("not connected to the broker yet; retrying in the background")
    proc.wait()  # a stop returns; a dead writer raises ProcessFault (exit 70) after /readyz said why
    worker.stop(writer)
