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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from devices import topics
from devices.settings import DbSettings, MqttSettings
from monitor.alerts import escalation, outbox
from monitor.alerts.store import DEFAULT_HOLDOFF, apply_candidate
from monitor.ingest.pipeline import DeadRow, ReadingRow, classify
from monitor.ingest.worker import IngestConfig, IngestWorker, _Pending
from monitor.rules.candidate import AlertCandidate
from monitor.rules.engine import on_tick
from monitor.runner import homes as home_store
from monitor.runner.clock import DATA, DATA_TICK_S, RulesClock
from monitor.runner.partition import Partition
from monitor.runner.saver import StateSaver
from monitor.runner.triage import evaluate
from monitor.runner.urgent import URGENT_KINDS, Dedup, UrgentLane, UrgentPending, urgent_topics

log = logging.getLogger("eldercare.rules")
# Work spread over turns of the writer loop, so that an SOS never waits behind all of it at once.
TICK_SLICE = 250  # homes evaluated per turn during a tick round


@dataclass
class RulesConfig(IngestConfig):
    client_prefix: str = "rules"
    batch_size: int = 250  # small batches: an urgent message waits at most for the batch in hand
    batch_age_s: float = 0.02  # an SOS should not wait for a batch to fill
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


class RulesWorker(IngestWorker):
    def __init__(self, mqtt_settings: MqttSettings, db: DbSettings, cfg: RulesConfig) -> None:
        super().__init__(mqtt_settings, db, cfg)
        self.rcfg = cfg
        self.rules = RuleCounters()
        self.homes: dict[str, home_store.HomeRules] = {}
        self._fresh: dict[str, home_store.HomeRules] | None = None
        self.clock = RulesClock(cfg.clock, cfg.skew.future, cfg.tick_s, cfg.data_tick_s)
        # Life-safety messages jump the queue for latency; the data clock needs the stream in order.
        self.jump = cfg.clock != DATA
        self.use_lane = cfg.urgent_lane and self.jump
        self.channels = outbox.senders(cfg.notify)
        self._candidates: list[tuple[home_store.HomeRules, AlertCandidate]] = []
        self._unacked: list[_Pending] = []
        self.saver = StateSaver(db, every_s=cfg.state_flush_s)
        self._ticking: list[str] = []
        self._urgent: collections.deque[_Pending] = collections.deque()
        self._skipped: collections.deque[_Pending] = collections.deque()
        self._ack_only: collections.deque[_Pending] = collections.deque()
        self._dedup = Dedup()
        self.lane = UrgentLane(
            mqtt_settings,
            client_id=f"{cfg.client_prefix}-{cfg.worker_id}-urgent",
            session_expiry_s=cfg.session_expiry_s,
            deliver=self._take_urgent,
        )
        self._watched: object = None  # the device index the lane's subscriptions were made from

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
            except psycopg.Error as exc:
                log.warning("home refresh failed: %s", str(exc).strip().splitlines()[0])
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

    def start(self) -> threading.Thread:
        if self.use_lane:
            with contextlib.suppress(psycopg.Error):
                self._refresh_index(force=True)  # so that the lane subscribes as it connects
            self.lane.start()
        threading.Thread(target=self._refresh_loop, name="rules-homes", daemon=True).start()
        self.saver.start()
        threading.Thread(target=self._notify_loop, name="rules-notify", daemon=True).start()
        return super().start()

    def _now(self) -> datetime:
        return self.clock.now(wall=datetime.now(UTC))

    # -- batches --------------------------------------------------------------------------------------
    def _enqueue(self, pending: _Pending) -> None:
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

    def _take_urgent(self, pending: _Pending) -> None:
        """An urgent message from either session: the first copy jumps the queue, the second is only acked."""
        if self._dedup.first(pending.msg):
            self._urgent.append(pending)
        else:
            self.rules.urgent_copies += 1
            self._ack_only.append(pending)

    def _refresh_index(self, *, force: bool = False) -> None:
        super()._refresh_index(force=force)
        if self.use_lane and self._watched is not self.index:
            self.lane.watch(urgent_topics(self.index, self.rcfg.partition.owns))
            self._watched = self.index

    def _ack(self, batch: list[_Pending]) -> None:
        super()._ack([p for p in batch if not isinstance(p, UrgentPending)])
        self.lane.ack([p for p in batch if isinstance(p, UrgentPending)])

    def _collect(self, timeout: float) -> list[_Pending]:
        """A batch as the ingest worker collects one, except that urgent messages end it at once, first."""
        batch: list[_Pending] = []
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

    def _apply(self, conn: psycopg.Connection) -> None:
        for home, cand in self._candidates:
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

    def _commit(self, *, force_state: bool = False) -> None:
        """Commit pending alert changes, then acknowledge; hand the rule state to the flusher now and then.

        Messages are acknowledged only when no alert change is pending: an outage delays alerts but
        loses none (candidates wait in memory; unacknowledged messages come back after a crash). Rule
        state is saved every ``state_flush_s`` and at a clean stop, so a deploy resets no timer; a crash
        can lose that last second of state (a slightly older "last movement"), never an alert.
        """
        if self._candidates:
            conn = self._db()
            with conn.transaction():
                self._apply(conn)
            self._candidates.clear()
        skipped = [self._skipped.popleft() for _ in range(len(self._skipped))]
        self.rules.skipped += len(skipped)
        copies = [self._ack_only.popleft() for _ in range(len(self._ack_only))]
        self._ack(self._unacked + skipped + copies)
        self._unacked = []
        self.saver.step(self.homes, start=force_state)

    def _handle(self, batch: list[_Pending]) -> bool:
        self._swap_homes()
        try:
            self._refresh_index()
        except psycopg.Error as exc:
            return self._db_down(exc)  # nothing evaluated yet: the batch is held and retried
        wall = datetime.now(UTC)
        outcomes = [classify(p.msg, self.index, now=wall, skew=self.cfg.skew) for p in batch]
        if any(isinstance(o, DeadRow) and o.reason.startswith("unknown device") for o in outcomes):
            try:
                if time.monotonic() - self._index_loaded_at > 1.0:  # a device provisioned a moment ago
                    self._refresh_index(force=True)
                    outcomes = [classify(p.msg, self.index, now=wall, skew=self.cfg.skew) for p in batch]
            except psycopg.Error as exc:
                return self._db_down(exc)
        for outcome in outcomes:
            if isinstance(outcome, ReadingRow):
                self._evaluate(outcome)
        self._unacked.extend(batch)
        try:
            self._commit()
        except psycopg.Error as exc:
            self._db_down(exc)  # evaluated and kept in memory: committed by a later turn
        return True

    def _db_down(self, exc: psycopg.Error) -> bool:
        self.counters.db_errors += 1
        log.warning("database error (will retry): %s", str(exc).strip().splitlines()[0])
        self._drop_conn()
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
                        sent, failed = outbox.deliver_pending(conn, self.channels, now=datetime.now(UTC))
                        self.rules.notified += sent
                        self.rules.notify_failed += failed
                        if self.stop_event.wait(self.rcfg.notify_interval_s):
                            return
            except psycopg.Error as exc:
                log.warning("outbox: database error: %s", str(exc).strip().splitlines()[0])

    def _on_stop(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self._commit()
        self.saver.close(self.homes)

    def stop(self, writer: threading.Thread, *, timeout: float = 30.0) -> None:
        super().stop(writer, timeout=timeout)
        if self.use_lane:
            self.lane.stop()
