"""The consumer component shared by ingest and rules: one persistent MQTT v5 session with manual acks.

A :class:`Session` receives messages on paho's network thread and hands each one, as a :class:`Pending`, to
its owner's ``deliver`` callback; the owner makes a batch durable (committed to the database, or fsynced to a
spool) and only then calls :func:`ack`, which acknowledges each message on the session it came from. The
broker redelivers whatever was not acknowledged when a process died, so nothing it accepted is lost.

The per-message error boundary lives with the owners (``classify`` never raises; the writers isolate a
message that makes a batch fail); this module guarantees only that nothing received can kill paho's thread:
a payload is cut to ``max_payload`` bytes on arrival (the cut is recorded, and the message dead-lettered),
so memory is bounded by ``receive_maximum`` x ``max_payload``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from devices.settings import DbSettings, MqttSettings
from devices.telemetry import MAX_PAYLOAD_BYTES
from monitor.ingest import store
from monitor.ingest.fastclient import FastClient
from monitor.ingest.pipeline import (
    DeadRow,
    DeviceIndex,
    Outcome,
    RawMessage,
    SkewLimits,
    classify,
    message_key,
)

log = logging.getLogger("eldercare.consumer")
SUBSCRIBE_CHUNK = 500  # topic filters per SUBSCRIBE packet
FAULT_AFTER = 10  # writer turns failing in a row (not messages: those are isolated) before the thread ends
RECONNECT_MIN_S = 0.25


@dataclass(frozen=True, slots=True)
class Pending:
    """A received, not yet acknowledged message; ``session`` is where its acknowledgement goes."""

    generation: int  # the session's connection number when it arrived: a later connection has other mids
    mid: int
    qos: int
    msg: RawMessage
    session: Session | None = None

    @property
    def urgent(self) -> bool:
        return self.session is not None and self.session.urgent


def is_outage(exc: BaseException, conn: psycopg.Connection | None = None) -> bool:
    """Whether a database error means "unreachable, try again later" rather than "this data is refused".

    An outage keeps the batch (spool or hold) and retries it; anything else is about the messages, and the
    writer isolates the one at fault instead of retrying it for ever.
    """
    if not isinstance(exc, psycopg.Error):
        return False
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    return conn is not None and (conn.closed or conn.broken)


class Session:
    """One persistent broker session (clean start off, session expiry set, QoS 1, manual acks)."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        deliver: Callable[[Pending], None],
        filters: Sequence[str] = (),
        receive_maximum: int = 20000,
        session_expiry_s: int = 24 * 3600,
        retain_handling: int = SubscribeOptions.RETAIN_SEND_IF_NEW_SUB,
        retain_as_published: bool = False,
        urgent: bool = False,
        max_payload: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.deliver = deliver
        self.filters: list[str] = list(filters)
        self.receive_maximum = receive_maximum
        self.session_expiry_s = session_expiry_s
        self.retain_handling = retain_handling
        self.retain_as_published = retain_as_published
        self.urgent = urgent
        self.max_payload = max_payload
        self.generation = 0
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self.receive_errors = 0  # deliveries that raised (a bug in the owner): counted, never fatal
        self.refused: str | None = None  # the broker's last refusal, for readiness
        self.client = FastClient(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        self.client.username_pw_set(settings.username, settings.password.get_secret_value())
        # paho annotates the delays as int but waits any number of seconds: retry a quarter of a second after
        # a drop (a restarted broker is back in about as long), doubling to 5 s.
        self.client.reconnect_delay_set(min_delay=cast("int", RECONNECT_MIN_S), max_delay=5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message  # what paho's fast path hands back (QoS 2, topic aliases)
        self.client.on_raw_message = self._on_raw

    # -- paho's network thread ------------------------------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            self.refused = str(rc)
            log.error("%s: broker refused the connection: %s", self.client_id, rc)
            return
        self.refused = None
        self.generation += 1
        self._subscribe(self.filters)
        self.connected.set()
        log.info(
            "%s connected (session present: %s), subscribed to %d filters",
            "urgent lane" if self.urgent else self.client_id, flags.session_present, len(self.filters),
        )  # fmt: skip

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            log.warning("%s: disconnected from broker (%s); reconnecting", self.client_id, rc)

    def _subscribe(self, names: Iterable[str]) -> None:
        opts = SubscribeOptions(
            qos=1, retainHandling=self.retain_handling, retainAsPublished=self.retain_as_published
        )
        names = list(names)
        for i in range(0, len(names), SUBSCRIBE_CHUNK):
            self.client.subscribe([(t, opts) for t in names[i : i + SUBSCRIBE_CHUNK]])

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        try:
            topic = m.topic
        except UnicodeDecodeError:  # paho decodes lazily; the broker should have refused it already
            topic = m._topic.decode("utf-8", "replace")
        self._on_raw(topic, bytes(m.payload), m.mid, m.qos, bool(m.retain))

    def _on_raw(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool) -> None:
        """Never raises: an exception on paho's thread would end the session's network loop."""
        try:
            size, cut_key = len(payload), b""
            if size > self.max_payload:  # keep memory bounded; classify refuses it by its recorded size
                cut_key = message_key(topic, payload)
                payload = payload[: self.max_payload + 1]
            msg = RawMessage(topic, payload, datetime.now(UTC), retain, size, cut_key)
            self.deliver(Pending(self.generation, mid, qos, msg, self))
        except Exception:
            self.receive_errors += 1
            log.exception("%s: a received message could not be handed over (mid %s)", self.client_id, mid)

    # -- any thread -----------------------------------------------------------------------------------
    def watch(self, wanted: set[str]) -> None:
        """Subscribe to more topic filters (the urgent lane follows the device registry)."""
        new = sorted(wanted - set(self.filters))
        if not new:
            return
        self.filters += new
        if self.connected.is_set():
            self._subscribe(new)
            log.info("%s: %d more topics", self.client_id, len(new))

    def ack_mids(self, batch: Iterable[Pending]) -> None:
        # An ack for a message of an earlier connection would hit the wrong message id: the broker
        # redelivers those anyway, and the unique keys absorb the repeat.
        gen = self.generation
        self.client.ack_many([p.mid for p in batch if p.qos == 1 and p.generation == gen])

    def publish_clear(self, topic: str) -> None:
        """Clear a retained message at the broker (an empty retained payload)."""
        self.client.publish(topic, b"", qos=1, retain=True)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        self.client.connect_async(
            self.settings.host, self.settings.port, clean_start=False, properties=props, keepalive=30
        )
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect without unsubscribing: the persistent session keeps queueing for the next start."""
        self.stopping.set()
        self.client.disconnect()
        self.client.loop_stop()


def ack(batch: Iterable[Pending]) -> None:
    """Acknowledge each message on the session it came from (after its batch is durable)."""
    by_session: dict[int, tuple[Session, list[Pending]]] = {}
    for p in batch:
        if p.session is not None:
            by_session.setdefault(id(p.session), (p.session, []))[1].append(p)
    for session, items in by_session.values():
        session.ack_mids(items)


class DbLink:
    """A writer thread's own database connection and the device index it routes messages by."""

    def __init__(self, db: DbSettings, *, index_refresh_s: float = 10.0, prepare: bool = False) -> None:
        self.db = db
        self.index_refresh_s = index_refresh_s
        self.prepare = prepare  # the ingest writer's staging tables and JSON codec (store.prepare)
        self.index = DeviceIndex()
        self.loaded_at = 0.0
        self._conn: psycopg.Connection | None = None

    @property
    def current(self) -> psycopg.Connection | None:
        return self._conn

    def conn(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.db.conninfo(), connect_timeout=3)
            if self.prepare:
                store.prepare(self._conn)
        return self._conn

    def drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def refresh_index(self, *, force: bool = False) -> bool:
        """Reload the device index when it is older than ``index_refresh_s`` (or ``force``); True if reloaded."""
        if not force and time.monotonic() - self.loaded_at <= self.index_refresh_s:
            return False
        self.index = store.load_index(self.conn())
        self.loaded_at = time.monotonic()
        return True

    def is_outage(self, exc: BaseException) -> bool:
        return is_outage(exc, self._conn)


def classify_batch(link: DbLink, msgs: list[RawMessage], *, skew: SkewLimits) -> list[Outcome]:
    """Classify a batch against the device index, reloading it once for a device provisioned a moment ago."""
    link.refresh_index()
    now = datetime.now(UTC)
    outcomes = [classify(m, link.index, now=now, skew=skew) for m in msgs]
    unknown = any(isinstance(o, DeadRow) and o.reason.startswith("unknown device") for o in outcomes)
    if unknown and time.monotonic() - link.loaded_at > 1.0 and link.refresh_index(force=True):
        outcomes = [classify(m, link.index, now=now, skew=skew) for m in msgs]
    return outcomes


def why(exc: BaseException) -> str:
    """An exception as one bounded line for a log, a counter's reason or a dead letter."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def writer_loop(
    turn: Callable[[list[Pending]], list[Pending]],
    *,
    name: str,
    done: Callable[[list[Pending]], bool],
    on_error: Callable[[], None],
    stats: Callable[[], str],
    stats_interval_s: float,
) -> None:
    """The writer thread of a consumer (ingest, rules): ``turn`` takes the batch still held and returns the
    one to hold next; ``done(held)`` says when a stop has drained. A turn that raises is logged, ``on_error``
    runs (count it, drop the connection) and the next turn retries; only a fault that repeats
    ``FAULT_AFTER`` turns in a row ends the thread, and so the process, which says why."""
    held: list[Pending] = []
    last_stats = time.monotonic()
    failures = 0
    while True:
        try:
            held = turn(held)
            failures = 0
        except Exception as exc:
            failures += 1
            log.exception("%s turn failed (%d in a row)", name, failures)
            on_error()
            if failures >= FAULT_AFTER:
                raise RuntimeError(f"{name} failed {failures} turns in a row: {why(exc)}") from exc
            time.sleep(0.5)
        if time.monotonic() - last_stats > stats_interval_s:
            log.info("%s", stats())
            last_stats = time.monotonic()
        if done(held):
            return
