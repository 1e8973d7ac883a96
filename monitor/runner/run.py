"""``eldercare rules``: the rules process until SIGTERM/SIGINT; logs "rules ready" once it evaluates."""

from __future__ import annotations

import logging

import psycopg

from devices.settings import DbSettings, MqttSettings
from monitor.consumer import why
from monitor.process import Process
from monitor.runner.worker import RulesConfig, RulesWorker

log = logging.getLogger("eldercare.rules")


def _register_metrics(worker: RulesWorker) -> None:
    from prometheus_client import REGISTRY
    from prometheus_client.core import CounterMetricFamily

    class Collector:
        def collect(self):  # type: ignore[no-untyped-def]
            for name, value in vars(worker.rules).items():
                yield CounterMetricFamily(f"eldercare_rules_{name}", f"rules process: {name}", value=value)

    REGISTRY.register(Collector())


def run(
    mqtt_settings: MqttSettings, db: DbSettings, cfg: RulesConfig, *, metrics_port: int | None = None
) -> None:
    proc = Process("rules", log=log)
    worker = RulesWorker(mqtt_settings, db, cfg)
    proc.install_signals()
    while not proc.stop.is_set():
        try:
            worker.load_homes()
            break
        except psycopg.Error as exc:
            log.warning("database not reachable yet (%s); retrying", why(exc))
            worker._drop_conn()
            proc.stop.wait(1.0)
    if metrics_port is not None:
        _register_metrics(worker)

    def ready() -> tuple[bool, str]:
        if not worker.connected.is_set():
            refused = worker.session.refused
            return (
                False,
                f"broker refused the connection: {refused}" if refused else "not connected to the broker",
            )
        return True, "ready"

    proc.serve_health(metrics_port, ready)
    writer = worker.start(proc.spawn)
    if not worker.connected.wait(15):
        log.warning("not connected to the broker yet; retrying in the background")
    log.info(
        "rules ready: %d homes (partition %s), clock=%s, tick every %.0f s",
        len(worker.homes), cfg.partition, cfg.clock, cfg.tick_s,
    )  # fmt: skip
    proc.wait()  # a stop returns; a dead thread raises ProcessFault (exit 70) after /readyz said why
    worker.stop(writer)
    log.info("rules stopped: %s", " ".join(f"{k}={v}" for k, v in vars(worker.rules).items()))
