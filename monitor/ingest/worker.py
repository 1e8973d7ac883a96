"""The ingest process: a paho-mqtt 2 subscriber feeding a writer thread that stores, spools or holds each batch.

Messages are acknowledged (PUBACK, paho ``manual_ack``) only after their batch is committed to the database
or fsynced to the spool, so a crash loses nothing the broker has not seen acknowledged: the persistent
session (clean start off, session expiry set) makes the broker redeliver the rest, and the unique key on
(device, time, seq) keeps redeliveries from being stored twice.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from devices import topics
from devices.settings import DbSettings, MqttSettings
from monitor.ingest import store
from monitor.ingest.fastclient import FastClient
from monitor.ingest.pipeline import (
    DeadRow,
    DeviceIndex,
    RawMessage,
    ReadingRow,
    SkewLimits,
    StatusRow,
    classify,
)
from monitor.ingest.spool import Spool, SpoolFull

log = logging.getLogger("eldercare.ingest")


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

    def line(self) -> str:
        return " ".join(f"{k}={v}" for k, v in vars(self).items())


@dataclass(frozen=True, slots=True)
class _Pending:
    generation: int
    mid: int
    qos: int
    msg: RawMessage


class IngestWorker:
    def __init__(self, mqtt_settings: MqttSettings, db: DbSettings, cfg: IngestConfig) -> None:
        self.mqtt_settings = mqtt_settings
        self.db = db
        self.cfg = cfg
        self.counters = Counters()
        self.queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self.stop_event = threading.Event()
        self.generation = 0
        self.connected = threading.Event()
        self.spool = Spool(cfg.spool_dir / f"ingest-{cfg.worker_id}", max_bytes=cfg.spool_max_bytes)
        self.index = DeviceIndex()
        self._index_loaded_at = 0.0
        self._conn: psycopg.Connection | None = None
        self._drain_deadline = float("inf")
        self.client = self._make_client()

    # -- MQTT side (paho's network thread) ------------------------------------------------------------
    def _make_client(self) -> FastClient:
        client = FastClient(
            CallbackAPIVersion.VERSION2,
            client_id=f"{self.cfg.client_prefix}-{self.cfg.worker_id}",
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.username_pw_set(self.mqtt_settings.username, self.mqtt_settings.password.get_secret_value())
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message  # what paho's fast path hands back (QoS 2, topic aliases)
        client.on_raw_message = self._on_raw
        return client

    def _on_connect(
        self, client: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            log.error("broker refused the connection: %s", rc)
            return
        self.generation += 1
        filters = topics.ingest_filters(self.cfg.shared_group)
        # Retained statuses (every device's online/offline) only for a new subscription: with the session
        # present the broker queued every change meanwhile, and resending ~10 per home on each reconnect
        # buried the readings under millions of statuses at 20,000 homes.
        new_only = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        client.subscribe([(f, new_only) for f in filters])
        self.connected.set()
        log.info("connected (session present: %s), subscribed to %s", flags.session_present, filters)

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.connected.clear()
        if not self.stop_event.is_set():
            log.warning("disconnected from broker (%s); reconnecting", rc)

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        raw = RawMessage(m.topic, bytes(m.payload), datetime.now(UTC), bool(m.retain))
        self._enqueue(_Pending(self.generation, m.mid, m.qos, raw))

    def _on_raw(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool) -> None:
        self._enqueue(
            _Pending(self.generation, mid, qos, RawMessage(topic, payload, datetime.now(UTC), retain))
        )

    def _enqueue(self, pending: _Pending) -> None:
        """Hand a received message to the writer thread (subclasses may give some priority)."""
        self.queue.put(pending)

    def _ack(self, batch: list[_Pending]) -> None:
        # An ack for a message of an earlier connection would hit the wrong message id: the broker
        # redelivers those anyway, and the unique key absorbs the repeat.
        gen = self.generation
        self.client.ack_many([p.mid for p in batch if p.qos == 1 and p.generation == gen])

    # -- writer thread ----------------------------------------------------------------------------------
    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.db.conninfo(), connect_timeout=3)
            store.prepare(self._conn)
        return self._conn

    def _drop_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def _refresh_index(self, *, force: bool = False) -> None:
        if force or time.monotonic() - self._index_loaded_at > self.cfg.index_refresh_s:
            self.index = store.load_index(self._db())
            self._index_loaded_at = time.monotonic()

    def _store(self, msgs: list[RawMessage]) -> None:
        """Classify and store one batch in the database; raises psycopg.Error when it is unreachable."""
        self._refresh_index()
        now = datetime.now(UTC)
        outcomes = [classify(m, self.index, now=now, skew=self.cfg.skew) for m in msgs]
        if any(isinstance(o, DeadRow) and o.reason.startswith("unknown device") for o in outcomes) and (
            time.monotonic() - self._index_loaded_at > 1.0
        ):
            self._refresh_index(force=True)  # a device provisioned a moment ago
            outcomes = [classify(m, self.index, now=now, skew=self.cfg.skew) for m in msgs]
        readings = [o for o in outcomes if isinstance(o, ReadingRow)]
        dead = [o for o in outcomes if isinstance(o, DeadRow)]
        statuses = [o for o in outcomes if isinstance(o, StatusRow)]
        res = store.write_batch(self._db(), readings=readings, dead=dead, statuses=statuses)
        self.counters.stored += res.stored
        self.counters.duplicates += res.duplicates + res.dead_duplicates
        self.counters.dead_lettered += res.dead_lettered
        self.counters.statuses += len(statuses)

    def _replay_spool(self) -> None:
        for path, msgs in self.spool.batches():
            self._store(msgs)
            self.spool.done(path)
            self.counters.replayed += len(msgs)
            log.info("replayed %d spooled messages from %s", len(msgs), path.name)

    def _handle(self, batch: list[_Pending]) -> bool:
        """Make a batch durable (database, else spool) and ack it. False: neither worked, keep it."""
        msgs = [p.msg for p in batch]
        try:
            if len(self.spool):
                self._replay_spool()
            self._store(msgs)
        except psycopg.Error as exc:
            self.counters.db_errors += 1
            self._drop_conn()
            try:
                self.spool.append(msgs)
            except SpoolFull as full:
                log.error("%s", full)
                return False
            self.counters.spooled += len(msgs)
            log.warning(
                "database unreachable (%s): spooled %d messages", str(exc).strip().splitlines()[0], len(msgs)
            )
        self._ack(batch)
        return True

    def _collect(self, timeout: float) -> list[_Pending]:
        batch: list[_Pending] = []
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

    def _periodic(self) -> None:
        """Called on every turn of the writer loop (at least every 0.2 s); subclasses hook timed work here."""

    def _on_stop(self) -> None:
        """Called once by the writer loop when it stops (after the last batch)."""

    def writer_loop(self) -> None:
        held: list[_Pending] = []
        last_stats = time.monotonic()
        while True:
            batch = held or self._collect(timeout=0.2)
            if not held:
                self.counters.received += len(batch)
            if batch:
                if self._handle(batch):
                    held = []
                else:
                    held = batch
                    time.sleep(1.0)  # database down and spool full: hold, retry, ack nothing
            elif len(self.spool):
                try:
                    self._replay_spool()
                except psycopg.Error:
                    self._drop_conn()
                    time.sleep(0.5)
            self._periodic()
            if time.monotonic() - last_stats > self.cfg.stats_interval_s:
                log.info("%s %s: %s", self.cfg.client_prefix, self.cfg.worker_id, self.counters.line())
                last_stats = time.monotonic()
            if self.stop_event.is_set() and (
                (not held and self.queue.empty()) or time.monotonic() > self._drain_deadline
            ):
                self._on_stop()
                return

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> threading.Thread:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        props.ReceiveMaximum = self.cfg.receive_maximum
        self.client.connect_async(
            self.mqtt_settings.host,
            self.mqtt_settings.port,
            clean_start=False,
            properties=props,
            keepalive=30,
        )
        self.client.loop_start()
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
        self.client.disconnect()
        self.client.loop_stop()
        self._drop_conn()
        log.info("%s %s stopped: %s", self.cfg.client_prefix, self.cfg.worker_id, self.counters.line())
