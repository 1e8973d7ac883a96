"""The rules worker: an MQTT subscriber (the ingest worker's session and ack discipline) that evaluates rules.

Each batch of messages is decoded like ingest does, folded into each home's rule state, and the resulting
alert changes plus the changed states are committed in one transaction before the batch is acknowledged:
a crash re-delivers what was not committed, and the timers live in ``rule_state``. A clock tick evaluates
absence-of-event rules, runs due escalation steps and sends the outbox.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from paho.mqtt.subscribeoptions import SubscribeOptions

from devices import topics
from devices.settings import DbSettings, MqttSettings
from monitor.alerts import escalation, outbox
from monitor.alerts.store import DEFAULT_HOLDOFF, apply_candidate
from monitor.consumer import DbLink, Pending, Session, ack, classify_batch, why, writer_loop
from monitor.ingest import store
from monitor.ingest.pipeline import DeadRow, DeviceIndex, ReadingRow, SkewLimits
from monitor.rules.candidate import AlertCandidate
from monitor.rules.engine import on_tick
from monitor.runner import homes as home_store
from monitor.runner.clock import DATA, DATA_TICK_S, RulesClock
from monitor.runner.partition import Partition
from monitor.runner.saver import StateSaver
from monitor.runner.triage import evaluate
from monitor.runner.urgent import URGENT_KINDS, Dedup, urgent_topics

log = logging.getLogger("eldercare.rules")
# Work spread over turns of the writer loop, so that an SOS never waits behind all of it at once.
TICK_SLICE = 250  # homes evaluated per turn during a tick round


DB_DOWN_LOG_S = 5.0
DB_DOWN_PAUSE_S = 0.2
Spawn = Callable[[Callable[[], None], str], threading.Thread]


@dataclass
class RulesConfig:
    worker_id: str = "1"
    client_prefix: str = "rules"  # the MQTT client ids are "<prefix>-<worker_id>" and "...-urgent"
    shared_group: str | None = None
    batch_size: int = 250  # small batches: an urgent message waits at most for the batch in hand
    batch_age_s: float = 0.02  # an SOS should not wait for a batch to fill
    receive_maximum: int = 20000
    session_expiry_s: int = 24 * 3600
    skew: SkewLimits = field(default_factory=SkewLimits)
    index_refresh_s: float = 10.0
    stats_interval_s: float = 10.0
    clock: str = "wall"  # wall: now is the wall clock; data: now is the latest reading time (replays, eval)
    tick_s: float = 15.0
    data_tick_s: float = DATA_TICK_S  # clock=data: also a tick per this much data time (runner.clock)
    notify_interval_s: float = 1.0
    state_flush_s: float = 1.0  # rule state is saved this often (and at a clean stop)
    home_refresh_s: float = 30.0
    holdoff: timedelta = DEFAULT_HOLDOFF
    notify: outbox.NotifySettings = field(default_factory=outbox.NotifySettings)
    partition: Partition = field(default_factory=Partition)  # the homes this worker evaluates
    urgent_lane: bool = True  # a second session for life-safety devices (runner.urgent); not on clock=data


@dataclass
class RuleCounters:
    received: int = 0
    readings: int = 0
    skipped: int = 0  # other partitions' messages, acknowledged unread
    urgent_copies: int = 0  # life-safety messages already taken from the other session
    raised: int = 0
    updated: int = 0
    cleared: int = 0
    ticks: int = 0
    escalations: int = 0
    notified: int = 0
    notify_failed: int = 0
    late_readings: int = 0  # clock=data: readings more than a data tick behind the clock (runner.clock)
    late_max_s: int = 0
    db_errors: int = 0
    rule_errors: int = 0  # readings whose evaluation raised: dead-lettered with the reason, never fatal
    alert_write_errors: int = 0  # alert changes the database refused for their data (logged)
    loop_errors: int = 0  # writer turns that raised (logged and retried)
    thread_errors: int = 0  # turns of the refresh and notify threads that raised (logged and retried)


class RulesWorker:
    """The rules process's worker: a main session, an urgent lane (both ``monitor.consumer.Session``), a
    writer thread that evaluates and commits, and threads that refresh homes and send notifications."""

    def __init__(self, mqtt_settings: MqttSettings, db: DbSettings, cfg: RulesConfig) -> None:
        self.db = db
        self.cfg = self.rcfg = cfg
        self.rules = RuleCounters()
        self.queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self.stop_event = threading.Event()
        self._drain_deadline = float("inf")
        self.link = DbLink(db, index_refresh_s=cfg.index_refresh_s)
        self.homes: dict[str, home_store.HomeRules] = {}
        self._fresh: dict[str, home_store.HomeRules] | None = None
        self.clock = RulesClock(cfg.clock, cfg.skew.future, cfg.tick_s, cfg.data_tick_s)
        # Life-safety messages jump the queue for latency; the data clock needs the stream in order.
        self.jump = cfg.clock != DATA
        self.use_lane = cfg.urgent_lane and self.jump
        self.outbox = outbox.Dispatcher(db.conninfo(), cfg.notify)  # a worker per destination
        self._candidates: list[tuple[home_store.HomeRules, AlertCandidate]] = []
        self._dead: list[DeadRow] = []  # readings whose evaluation raised, written with the next commit
        self._unacked: list[Pending] = []
        self.saver = StateSaver(db, every_s=cfg.state_flush_s)
        self._ticking: list[str] = []
        self._urgent: collections.deque[Pending] = collections.deque()
        self._skipped: collections.deque[Pending] = collections.deque()
        self._ack_only: collections.deque[Pending] = collections.deque()
        self._dedup = Dedup()
        self.session = Session(
            mqtt_settings,
            client_id=f"{cfg.client_prefix}-{cfg.worker_id}",
            deliver=self._enqueue,
            filters=topics.ingest_filters(cfg.shared_group),
            receive_maximum=cfg.receive_maximum,
            session_expiry_s=cfg.session_expiry_s,
        )
        # Without "retain as published" a live press arrives with the retain flag off, whatever the device
        # set, and is evaluated: a press is a press. Only a stored copy, sent again on a new subscription,
        # carries the flag, and classify refuses it: a retained SOS never raises a second alert.
        # The lane never asks for retained messages: a retained SOS would raise a new alert on each
        # reconnect (the main session's are dead-lettered by classify and cleared by ingest).
        self.lane = Session(
            mqtt_settings,
            client_id=f"{cfg.client_prefix}-{cfg.worker_id}-urgent",
            deliver=self._take_urgent,
            receive_maximum=cfg.receive_maximum,
            session_expiry_s=cfg.session_expiry_s,
            retain_handling=SubscribeOptions.RETAIN_DO_NOT_SEND,
            urgent=True,
        )
        self._watched: object = None  # the device index the lane's subscriptions were made from
        self._db_down_logged = -DB_DOWN_LOG_S

    @property
    def connected(self) -> threading.Event:
        return self.session.connected

    @property
    def index(self) -> DeviceIndex:
        return self.link.index

    def _db(self) -> psycopg.Connection:
        return self.link.conn()

    def _drop_conn(self) -> None:
        self.link.drop()

    # -- homes ----------------------------------------------------------------------------------------
    def load_homes(self) -> None:
        """Load every home (at start); later refreshes run in the background (``_refresh_loop``)."""
        self.homes, warnings = home_store.load(self._db(), partition=self.rcfg.partition)
        for w in warnings:
            log.warning("rule settings refused, defaults used: %s", w)

    def _refresh_loop(self) -> None:
        """Reload homes, devices and settings now and then on its own connection, off the hot path.

        The fresh objects share the live ``HomeState`` objects, so nothing the writer does meanwhile is
        lost; the writer swaps them in (``_swap_homes``) and carries the dirty flags over.
        """
        while not self.stop_event.wait(self.rcfg.home_refresh_s):
            try:
                with psycopg.connect(self.db.conninfo(), connect_timeout=3) as conn:
                    fresh, warnings = home_store.load(conn, self.homes, partition=self.rcfg.partition)
            except Exception as exc:  # an outage or one bad row: keep the homes we have, try again later
                if not isinstance(exc, psycopg.Error):
                    self.rules.thread_errors += 1
                log.warning("home refresh failed: %s", why(exc))
                continue
            for w in warnings:
                log.warning("rule settings refused, defaults used: %s", w)
            self._fresh = fresh

    def _swap_homes(self) -> None:
        fresh, self._fresh = self._fresh, None
        if fresh is None:
            return
        for home_id, home in fresh.items():
            old = self.homes.get(home_id)
            if old is not None:
                home.state, home.dirty = old.state, old.dirty or home.dirty
        self.homes = fresh

    def start(self, spawn: Spawn | None = None) -> threading.Thread:
        """Connect both sessions and start the threads (``spawn``: watched threads of ``monitor.process``)."""
        run = spawn or _plain_thread
        if self.use_lane:
            with contextlib.suppress(psycopg.Error):
                self._refresh_index(force=True)  # so that the lane subscribes as it connects
            self.lane.start()
        run(self._refresh_loop, "rules-homes")
        self.saver.start(spawn)
        run(self._notify_loop, "rules-notify")
        self.session.start()
        return run(self.writer_loop, "rules-writer")

    def _now(self) -> datetime:
        return self.clock.now(wall=datetime.now(UTC))

    # -- batches --------------------------------------------------------------------------------------
    def _enqueue(self, pending: Pending) -> None:
        """Route a message from the topic and the device index alone, before its payload is decoded.

        Another partition's home: acknowledged unread (with the next batch). Life-safety devices (SOS,
        fall, smoke, gas, leak) jump the queue: under a backlog of routine readings an SOS is evaluated
        next, not after everything received before it. Unknown devices go the normal way (the writer
        reloads the index).
        """
        try:
            route = topics.parse(pending.msg.topic)
        except topics.TopicError:
            route = None
        if route is not None and route.kind == "event":
            device = route.device_id
            if route.gateway_id is not None:
                device = self.index.by_z2m.get((route.gateway_id, route.friendly_name or ""))
            info = self.index.by_id.get(device) if device else None
            if info is not None:
                if not self.rcfg.partition.owns(info.home_id or ""):
                    self._skipped.append(pending)
                    return
                if info.kind in URGENT_KINDS and self.jump:
                    self._take_urgent(pending)
                    return
        self.queue.put(pending)

    def _take_urgent(self, pending: Pending) -> None:
        """An urgent message from either session: the first copy jumps the queue, the second is only acked."""
        if self._dedup.first(pending.msg):
            self._urgent.append(pending)
        else:
            self.rules.urgent_copies += 1
            self._ack_only.append(pending)

    def _refresh_index(self, *, force: bool = False) -> None:
        self.link.refresh_index(force=force)
        self._watch_lane()

    def _watch_lane(self) -> None:
        if self.use_lane and self._watched is not self.index:
            self.lane.watch(urgent_topics(self.index, self.rcfg.partition.owns))
            self._watched = self.index

    def _collect(self, timeout: float) -> list[Pending]:
        """A batch as the ingest worker collects one, except that urgent messages end it at once, first."""
        batch: list[Pending] = []
        started = time.monotonic()
        while True:
            if self._urgent:
                urgent = []
                while self._urgent:
                    urgent.append(self._urgent.popleft())
                return urgent + batch
            with contextlib.suppress(queue.Empty):
                batch.append(self.queue.get(timeout=0.005))
            waited = time.monotonic() - started
            if (
                len(batch) >= self.cfg.batch_size
                or (batch and waited >= self.cfg.batch_age_s)
                or waited >= timeout
            ):
                return batch

    def _apply(
        self, conn: psycopg.Connection, cands: list[tuple[home_store.HomeRules, AlertCandidate]]
    ) -> None:
        for home, cand in cands:
            change = apply_candidate(conn, cand, station_id=home.station_id, holdoff=self.rcfg.holdoff)
            if change is None:
                continue
            if change.action == "raised":
                self.rules.raised += 1
                log.info("alert %s raised: %s at home %s", change.alert_id, cand.kind.value, cand.home_id)
            elif change.action == "cleared":
                self.rules.cleared += 1
            else:
                self.rules.updated += 1

    def _write_alerts(self, conn: psycopg.Connection) -> None:
        """All pending alert changes in one transaction; if the database refuses them for their data (not an
        outage), each on its own, so that one bad change cannot hold back every other home's alarms."""
        try:
            with conn.transaction():
                self._apply(conn, self._candidates)
        except Exception as exc:
            if self.link.is_outage(exc):
                raise
            log.warning("alert changes refused (%s): applying them one by one", why(exc))
            for one in self._candidates:
                try:
                    with conn.transaction():
                        self._apply(conn, [one])
                except Exception as exc1:
                    if self.link.is_outage(exc1):
                        raise
                    self.rules.alert_write_errors += 1
                    log.error("alert change for home %s (%s) refused: %s", one[1].home_id,
                              one[1].kind.value, why(exc1))  # fmt: skip

    def _commit(self, *, force_state: bool = False) -> None:
        """Commit pending alert changes, then acknowledge; hand the rule state to the flusher now and then.

        Messages are acknowledged only when no alert change is pending: an outage delays alerts but
        loses none (candidates wait in memory; unacknowledged messages come back after a crash). Rule
        state is saved every ``state_flush_s`` and at a clean stop, so a deploy resets no timer; a crash
        can lose that last second of state (a slightly older "last movement"), never an alert.
        """
        if self._candidates:
            self._write_alerts(self._db())
            self._candidates.clear()
        if self._dead:
            store.write_batch(self._db(), readings=[], dead=self._dead, statuses=[])
            self._dead.clear()
        skipped = [self._skipped.popleft() for _ in range(len(self._skipped))]
        self.rules.skipped += len(skipped)
        copies = [self._ack_only.popleft() for _ in range(len(self._ack_only))]
        ack(self._unacked + skipped + copies)
        self._unacked = []
        self.saver.step(self.homes, start=force_state)

    def _handle(self, batch: list[Pending]) -> bool:
        self._swap_homes()
        try:
            outcomes = classify_batch(self.link, [p.msg for p in batch], skew=self.cfg.skew)
            self._watch_lane()
        except psycopg.Error as exc:
            return self._db_down(exc)  # nothing evaluated yet: the batch is held and retried
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, ReadingRow):
                try:
                    self._evaluate(outcome)
                except Exception as exc:  # the error boundary: one reading, not the process
                    self.rules.rule_errors += 1
                    log.exception("rules failed on a reading of %s", outcome.reading.device_id)
                    self._dead.append(
                        DeadRow.of(pending.msg, f"rules: {why(exc)}", outcome.reading.device_id)
                    )
        self._unacked.extend(batch)
        try:
            self._commit()
        except psycopg.Error as exc:
            self._db_down(exc)  # evaluated and kept in memory: committed by a later turn
        return True

    def _db_down(self, exc: psycopg.Error) -> bool:
        """Count, log at most every ``DB_DOWN_LOG_S`` (an outage is one story, not 40 lines a second) and
        pause briefly so that the writer does not hammer a database that is restarting."""
        self.rules.db_errors += 1
        now = time.monotonic()
        if now - self._db_down_logged >= DB_DOWN_LOG_S:
            log.warning("database error (will retry; %d so far): %s", self.rules.db_errors, why(exc))
            self._db_down_logged = now
        self._drop_conn()
        time.sleep(DB_DOWN_PAUSE_S)
        return False

    def _evaluate(self, row: ReadingRow) -> None:
        home = self.homes.get(row.home_id) if row.home_id else None
        if home is None:
            return  # a device in no (known) home: ingest stores it, no home can be alarmed
        self.rules.readings += 1
        now = self.clock.reading(row.reading.ts, wall=datetime.now(UTC))
        self.rules.late_readings, self.rules.late_max_s = self.clock.late, round(self.clock.late_max_s)
        cands = evaluate(home, row.reading, now)
        home.dirty = True
        self._candidates.extend((home, c) for c in cands)

    # -- clock ----------------------------------------------------------------------------------------
    def _periodic(self) -> None:
        try:
            if self._candidates or self._unacked or self._skipped or self._ack_only or self.saver.due():
                self._commit()
            if not self._ticking and self.clock.tick_due(mono=time.monotonic()):
                self._ticking = list(self.homes)
            if self._ticking:
                self.tick(limit=TICK_SLICE)
        except psycopg.Error as exc:
            self._db_down(exc)

    def tick(self, *, limit: int | None = None) -> None:
        """Evaluate time-based rules (absence of events is the signal) and run due escalation steps.

        With ``limit``, only that many homes of the current round per call: a round over 20,000 homes is
        spread over several turns of the writer loop so that a reading never waits behind all of it.
        """
        if not self._ticking:
            self._ticking = list(self.homes)
        now = self._now()
        chunk, self._ticking = self._ticking[: limit or None], self._ticking[limit or len(self._ticking) :]
        for home_id in chunk if self.clock.has_time else ():  # escalation steps still run (wall time)
            home = self.homes.get(home_id)
            if home is None:
                continue
            cands = on_tick(home.state, home.ctx, home.settings, home.baseline, now)
            if cands:
                home.dirty = True
                self._candidates.extend((home, c) for c in cands)
        self._commit(force_state=not self._ticking)
        if not self._ticking:
            conn = self._db()
            with conn.transaction():
                self.rules.escalations += escalation.run_due(conn, now=datetime.now(UTC))
            self.rules.ticks += 1

    def _notify_loop(self) -> None:
        """Send the outbox on its own connection: a slow webhook or SMTP server never delays the rules."""
        while not self.stop_event.wait(self.rcfg.notify_interval_s):
            try:
                with psycopg.connect(self.db.conninfo(), connect_timeout=3, autocommit=True) as conn:
                    while not self.stop_event.is_set():
                        sent, failed = self.outbox.pump(conn, now=datetime.now(UTC))
                        self.rules.notified += sent
                        self.rules.notify_failed += failed
                        if self.stop_event.wait(self.rcfg.notify_interval_s):
                            return
            except Exception as exc:  # an outage, or a sender's bug: the outbox keeps the notification
                if not isinstance(exc, psycopg.Error):
                    self.rules.thread_errors += 1
                log.warning("outbox: %s", why(exc))

    # -- the writer thread ------------------------------------------------------------------------------
    def writer_loop(self) -> None:
        """Evaluate what arrives until stopped and drained (``monitor.consumer.writer_loop``), then commit
        what is pending and save the rule state."""
        writer_loop(
            self._turn,
            name="rules writer",
            done=lambda held: (
                self.stop_event.is_set()
                and (
                    (not held and self.queue.empty() and not self._urgent)
                    or time.monotonic() > self._drain_deadline
                )
            ),
            on_error=self._turn_failed,
            stats=lambda: (
                f"rules {self.cfg.worker_id}: " + " ".join(f"{k}={v}" for k, v in vars(self.rules).items())
            ),
            stats_interval_s=self.cfg.stats_interval_s,
        )
        self._on_stop()

    def _turn_failed(self) -> None:
        self.rules.loop_errors += 1
        self._drop_conn()

    def _turn(self, held: list[Pending]) -> list[Pending]:
        batch = held or self._collect(timeout=0.2)
        if not held:
            self.rules.received += len(batch)
        if batch and not self._handle(batch):
            time.sleep(1.0)  # database down before evaluating: hold the batch, retry, ack nothing
            return batch
        self._periodic()
        return []

    def _on_stop(self) -> None:
        self.outbox.close(timeout=2.0)
        with contextlib.suppress(psycopg.Error):
            self._commit()
        self.saver.close(self.homes)

    def stop(self, writer: threading.Thread, *, timeout: float = 30.0) -> None:
        """Stop taking messages, commit what was evaluated, save the state, then disconnect."""
        self._drain_deadline = time.monotonic() + timeout / 2
        self.stop_event.set()
        writer.join(timeout)
        self.session.stop()
        if self.use_lane:
            self.lane.stop()
        self._drop_conn()


def _plain_thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread
