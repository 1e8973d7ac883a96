"""``eldercare rules``: the rules process until SIGTERM/SIGINT; logs "rules ready" once it evaluates."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

import psycopg

from devices.settings import DbSettings, MqttSettings
from monitor.runner.worker import RulesConfig, RulesWorker

log = logging.getLogger("eldercare.rules")


def _metrics(worker: RulesWorker, port: int) -> None:
    from prometheus_client import REGISTRY
    from prometheus_client.core import CounterMetricFamily

    from monitor import ops_http

    class Collector:
        def collect(self):  # type: ignore[no-untyped-def]
            for name, value in vars(worker.rules).items():
                yield CounterMetricFamily(f"eldercare_rules_{name}", f"rules process: {name}", value=value)

    REGISTRY.register(Collector())

    def ready() -> tuple[bool, str]:
        return (True, "ready") if worker.connected.is_set() else (False, "not connected to the broker")

    server = ops_http.serve(port, ready)
    log.info("metrics and health on http://127.0.0.1:%d/metrics", server.server_address[1])


def run(
    mqtt_settings: MqttSettings, db: DbSettings, cfg: RulesConfig, *, metrics_port: int | None = None
) -> None:
    worker = RulesWorker(mqtt_settings, db, cfg)
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not done.is_set():
        try:
            worker.load_homes()
            break
        except psycopg.Error as exc:
            log.warning("database not reachable yet (%s); retrying", str(exc).strip().splitlines()[0])
            worker._drop_conn()
            time.sleep(1.0)
    if metrics_port is not None:
        _metrics(worker, metrics_port)
    writer = worker.start()
    if not worker.connected.wait(15):
        log.warning("not connected to the broker yet; retrying in the background")
    log.info(
        "rules ready: %d homes (partition %s), clock=%s, tick every %.0f s",
        len(worker.homes), cfg.partition, cfg.clock, cfg.tick_s,
    )  # fmt: skip
    while not done.wait(1.0):
        if not writer.is_alive():
            raise RuntimeError("rules writer thread died")
    worker.stop(writer)
    log.info("rules stopped: %s", " ".join(f"{k}={v}" for k, v in vars(worker.rules).items()))
