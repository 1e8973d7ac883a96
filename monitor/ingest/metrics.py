"""Prometheus view of an ingest worker, read from its own counters at scrape time (no double bookkeeping)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.ingest.worker import IngestWorker


class IngestCollector(Collector):
    def __init__(self, worker: IngestWorker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        w, wid = self.worker, self.worker.cfg.worker_id
        for name, value in vars(w.counters).items():
            c = CounterMetricFamily(f"eldercare_ingest_{name}", f"ingest messages {name}", labels=["worker"])
            c.add_metric([wid], value)
            yield c
        lag = GaugeMetricFamily("eldercare_ingest_queue_depth", "received, not yet stored", labels=["worker"])
        lag.add_metric([wid], w.queue.qsize())
        yield lag
        spool = GaugeMetricFamily(
            "eldercare_ingest_spool_batches", "batches waiting on disk", labels=["worker"]
        )
        spool.add_metric([wid], len(w.spool))
        yield spool
        up = GaugeMetricFamily("eldercare_ingest_broker_connected", "1 when connected", labels=["worker"])
        up.add_metric([wid], 1 if w.connected.is_set() else 0)
        yield up
