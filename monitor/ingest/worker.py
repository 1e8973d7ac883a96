"""The ingest process: a paho-mqtt 2 subscriber feeding a writer thread that stores, spools or holds each batch.

Messages are acknowledged (PUBACK, paho ``manual_ack``) only after their batch is committed to the database
or fsynced to the spool, so a crash loses nothing the broker has not seen acknowledged: the persistent
session (clean start off, session expiry set) makes the broker redeliver the rest, and the unique key on
(device, time, seq) keeps redeliveries from being stored twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from devices import topics
from devices.settings import DbSettings, MqttSettings
from monitor.consumer import DbLink, Pending, Session, ack, classify_batch, why, writer_loop
from monitor.ingest import store
from monitor.ingest.pipeline import (
    RETAINED_EVENT,
    DeadRow,
    DeviceIndex,
    Outcome,
    RawMessage,
    ReadingRow,
    SkewLimits,
    StatusRow,
)
from monitor.ingest.spool import Spool, SpoolFull

log = logging.getLogger("eldercare.ingest")
Spawn = Callable[[Callable[[], None], str], threading.Thread]


@dataclass
class IngestConfig:
    worker_id: str = "1"
    client_prefix: str = "ingest"  # the MQTT client id is "<prefix>-<worker_id>" (its persistent session)
    shared_group: str | None = None
    batch_size: int = 2000
    batch_age_s: float = 0.2
    receive_maximum: int = 20000
    session_expiry_s: int = 24 * 3600
    spool_dir: Path = Path("var/spool")
    spool_max_bytes: int = 512 * 2**20
    skew: SkewLimits = field(default_factory=SkewLimits)
    index_refresh_s: float = 10.0
    stats_interval_s: float = 10.0


@dataclass
class Counters:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    statuses: int = 0
    spooled: int = 0
    replayed: int = 0
    db_errors: int = 0
    isolated_batches: int = 0  # batches that failed on their data and were stored message by message
    unstorable: int = 0  # messages that could not even be dead-lettered (a bug: logged)
    quarantined: int = 0  # spool files moved aside
    retained_cleared: int = 0  # retained events cleared at the broker
    loop_errors: int = 0  # writer turns that raised (logged and retried)

    def line(self) -> str:
        return " ".join(f"{k}={v}" for k, v in vars(self).items())


class IngestWorker:
    """One ingest worker: a broker session (``monitor.consumer``) feeding a writer thread (``writer_loop``)."""

    def __init__(self, mqtt_settings: MqttSettings, db: DbSettings, cfg: IngestConfig) -> None:
        self.db = db
        self.cfg = cfg
        self.counters = Counters()
        self.queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self.stop_event = threading.Event()
        # Each worker owns its spool: two processes replaying (and deleting) the same files would race.
        self.spool = Spool(
            cfg.spool_dir / f"{cfg.client_prefix}-{cfg.worker_id}", max_bytes=cfg.spool_max_bytes
        )
        self.link = DbLink(db, index_refresh_s=cfg.index_refresh_s, prepare=True)
        self._drain_deadline = float("inf")
        self.session = Session(
            mqtt_settings,
            client_id=f"{cfg.client_prefix}-{cfg.worker_id}",
            deliver=self.queue.put,
            filters=topics.ingest_filters(cfg.shared_group),
            receive_maximum=cfg.receive_maximum,
            session_expiry_s=cfg.session_expiry_s,
            # Ingest sees the retain flag a device set even on live delivery, so a retained event is
            # dead-lettered (the device's fault made visible) and cleared at the broker at once.
            retain_as_published=True,
        )

    @property
    def connected(self) -> threading.Event:
        return self.session.connected

    # -- writer thread ----------------------------------------------------------------------------------
    @property
    def index(self) -> DeviceIndex:
        return self.link.index

    def _db(self) -> psycopg.Connection:
        return self.link.conn()

    def _drop_conn(self) -> None:
        self.link.drop()

    def _classify(self, msgs: list[RawMessage]) -> list[Outcome]:
        return classify_batch(self.link, msgs, skew=self.cfg.skew)

    def _write(self, outcomes: list[Outcome]) -> None:
        readings = [o for o in outcomes if isinstance(o, ReadingRow)]
        dead = [o for o in outcomes if isinstance(o, DeadRow)]
        statuses = [o for o in outcomes if isinstance(o, StatusRow)]
        res = store.write_batch(self._db(), readings=readings, dead=dead, statuses=statuses)
        self.counters.stored += res.stored
        self.counters.duplicates += res.duplicates + res.dead_duplicates
        self.counters.dead_lettered += res.dead_lettered
        self.counters.statuses += len(statuses)
        for d in dead:
            if d.reason == RETAINED_EVENT and d.payload:  # an empty one is the clear itself, coming back
                self.counters.retained_cleared += 1
                self.session.publish_clear(d.topic)

    def _store(self, msgs: list[RawMessage]) -> None:
        """Classify and store one batch; raises a psycopg error only for an outage (``is_outage``).

        The error boundary: if the batch fails for any other reason (data the database refuses, a bug),
        each message is written on its own and the one at fault is dead-lettered with the reason.
        """
        outcomes = self._classify(msgs)
        try:
            self._write(outcomes)
        except Exception as exc:
            if self.link.is_outage(exc):
                raise
            self.counters.isolated_batches += 1
            log.warning("a batch of %d failed (%s): storing message by message", len(msgs), why(exc))
            for msg, outcome in zip(msgs, outcomes, strict=True):
                self._store_one(msg, outcome)

    def _store_one(self, msg: RawMessage, outcome: Outcome) -> None:
        try:
            self._write([outcome])
            return
        except Exception as exc:
            if self.link.is_outage(exc):
                raise
            dead = DeadRow.of(msg, f"store: {why(exc)}", getattr(outcome, "device_id", None))
        try:
            self._write([dead])
        except Exception as exc:
            if self.link.is_outage(exc):
                raise
            # Only a bug gets here (a dead letter is bounded and sanitised): say so loudly, keep going.
            self.counters.unstorable += 1
            log.error("message on %r (%d bytes) could not even be dead-lettered: %s", msg.topic[:120],
                      msg.real_size, why(exc))  # fmt: skip

    def _replay_spool(self) -> None:
        for path, msgs in self.spool.batches():
            try:
                self._store(msgs)
            except Exception as exc:
                if self.link.is_outage(exc):
                    raise
                self.spool.quarantine(path, f"replay failed: {why(exc)}")
                self.counters.quarantined += 1
                log.error("spool file %s quarantined: %s", path.name, why(exc))
                continue
            self.spool.done(path)
            self.counters.replayed += len(msgs)
            log.info("replayed %d spooled messages from %s", len(msgs), path.name)

    def _handle(self, batch: list[Pending]) -> bool:
        """Make a batch durable (database, else spool) and ack it. False: neither worked, keep it."""
        msgs = [p.msg for p in batch]
        try:
            if len(self.spool):
                self._replay_spool()
            self._store(msgs)
        except Exception as exc:
            if self.link.is_outage(exc):
                self.counters.db_errors += 1
                self._drop_conn()
            else:  # _store isolates data errors: this is a bug, and the spool's replay will quarantine it
                self.counters.isolated_batches += 1
                log.exception("storing a batch failed unexpectedly: spooling it")
            try:
                self.spool.append(msgs)
            except SpoolFull as full:
                log.error("%s", full)
                return False
            self.counters.spooled += len(msgs)
            log.warning("database unreachable (%s): spooled %d messages", why(exc), len(msgs))
        ack(batch)
        return True

    def _collect(self, timeout: float) -> list[Pending]:
        batch: list[Pending] = []
        deadline = time.monotonic() + self.cfg.batch_age_s
        try:
            batch.append(self.queue.get(timeout=timeout))
        except queue.Empty:
            return batch
        while len(batch) < self.cfg.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self.queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def writer_loop(self) -> None:
        """Store what arrives until stopped and drained (``monitor.consumer.writer_loop``)."""
        writer_loop(
            self._turn,
            name="writer",
            done=lambda held: (
                self.stop_event.is_set()
                and ((not held and self.queue.empty()) or time.monotonic() > self._drain_deadline)
            ),
            on_error=self._turn_failed,
            stats=lambda: f"{self.cfg.client_prefix} {self.cfg.worker_id}: {self.counters.line()}",
            stats_interval_s=self.cfg.stats_interval_s,
        )

    def _turn_failed(self) -> None:
        self.counters.loop_errors += 1
        self._drop_conn()

    def _turn(self, held: list[Pending]) -> list[Pending]:
        """One turn of the writer loop; returns the batch still held (database down and spool full)."""
        batch = held or self._collect(timeout=0.2)
        if not held:
            self.counters.received += len(batch)
        if batch:
            if not self._handle(batch):
                time.sleep(1.0)  # database down and spool full: hold, retry, ack nothing
                return batch
        elif len(self.spool):
            try:
                self._replay_spool()
            except psycopg.Error:
                self._drop_conn()
                time.sleep(0.5)
        return []

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, spawn: Spawn | None = None) -> threading.Thread:
        """Connect and start the writer thread (``spawn``: a watched thread of ``monitor.process``)."""
        self.session.start()
        if spawn is not None:
            return spawn(self.writer_loop, "ingest-writer")
        writer = threading.Thread(target=self.writer_loop, name="ingest-writer", daemon=True)
        writer.start()
        return writer

    def stop(self, writer: threading.Thread, *, timeout: float = 30.0) -> None:
        """Stop taking messages, flush what was taken (store, spool or leave unacked), then disconnect."""
        # No unsubscribe: the persistent session must keep its subscriptions so the broker queues
        # what arrives while this process is away. What is still unacknowledged is redelivered later.
        self._drain_deadline = time.monotonic() + timeout / 2
        self.stop_event.set()
        writer.join(timeout)
        self.session.stop()
        self._drop_conn()
        log.info("%s %s stopped: %s", self.cfg.client_prefix, self.cfg.worker_id, self.counters.line())
