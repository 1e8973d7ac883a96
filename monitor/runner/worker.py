"""The rules worker: an MQTT subscriber (the ingest worker's session and ack discipline) that evaluates rules.

Each batch of messages is decoded like ingest does, folded into each home's rule state, and the resulting
alert changes plus the changed states are committed in one transaction before the batch is acknowledged:
a crash re-delivers what was not committed, and the timers live in ``rule_state``. A clock tick evaluates
absence-of-event rules, runs due escalation steps and sends the outbox.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from devices.settings import DbSettings, MqttSettings
from monitor.alerts import escalation, outbox
from monitor.alerts.store import DEFAULT_HOLDOFF, apply_candidate
from monitor.ingest.pipeline import ReadingRow, classify
from monitor.ingest.worker import IngestConfig, IngestWorker, _Pending
from monitor.rules.candidate import AlertCandidate
from monitor.rules.engine import on_reading, on_tick
from monitor.runner import homes as home_store

log = logging.getLogger("eldercare.rules")


@dataclass
class RulesConfig(IngestConfig):
    client_prefix: str = "rules"
    batch_age_s: float = 0.02  # an SOS should not wait for a batch to fill
    clock: str = "wall"  # wall: now is the wall clock; data: now is the latest reading time (replays, eval)
    tick_s: float = 15.0
    home_refresh_s: float = 30.0
    holdoff: timedelta = DEFAULT_HOLDOFF
    notify: outbox.NotifySettings = field(default_factory=outbox.NotifySettings)


@dataclass
class RuleCounters:
    readings: int = 0
    raised: int = 0
    updated: int = 0
    cleared: int = 0
    ticks: int = 0
    escalations: int = 0
    notified: int = 0
    notify_failed: int = 0


class RulesWorker(IngestWorker):
    def __init__(self, mqtt_settings: MqttSettings, db: DbSettings, cfg: RulesConfig) -> None:
        super().__init__(mqtt_settings, db, cfg)
        self.rcfg = cfg
        self.rules = RuleCounters()
        self.homes: dict[str, home_store.HomeRules] = {}
        self._homes_at = 0.0
        self._tick_at = time.monotonic()
        self.data_now: datetime | None = None
        self.channels = outbox.senders(cfg.notify)

    # -- homes ----------------------------------------------------------------------------------------
    def load_homes(self, *, keep_state: bool = True) -> None:
        self.homes, warnings = home_store.load(self._db(), self.homes if keep_state else None)
        self._homes_at = time.monotonic()
        for w in warnings:
            log.warning("rule settings refused, defaults used: %s", w)

    def _now(self, ts: datetime | None = None) -> datetime:
        wall = datetime.now(UTC)
        if self.rcfg.clock != "data":
            return wall
        if ts is not None and (self.data_now is None or ts > self.data_now):
            self.data_now = min(ts, wall + self.cfg.skew.future)
        return self.data_now or wall

    # -- batches --------------------------------------------------------------------------------------
    def _apply(
        self, conn: psycopg.Connection, home: home_store.HomeRules, cands: list[AlertCandidate]
    ) -> None:
        for cand in cands:
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

    def _handle(self, batch: list[_Pending]) -> bool:
        try:
            self._refresh_index()
            if time.monotonic() - self._homes_at > self.rcfg.home_refresh_s:
                self.load_homes()
            wall = datetime.now(UTC)
            outcomes = [classify(p.msg, self.index, now=wall, skew=self.cfg.skew) for p in batch]
            conn = self._db()
            with conn.transaction():
                for o in outcomes:
                    if isinstance(o, ReadingRow):
                        self._evaluate(conn, o)
                saved = home_store.save_states(conn, self.homes)
            for h in saved:
                h.dirty = False
        except psycopg.Error as exc:
            self.counters.db_errors += 1
            log.warning("database error, batch held for retry: %s", str(exc).strip().splitlines()[0])
            self._drop_conn()
            self._homes_at = 0.0  # reload states from the database: this batch's effects were rolled back
            with contextlib.suppress(psycopg.Error):
                self.load_homes(keep_state=False)
            return False
        self._ack(batch)
        return True

    def _evaluate(self, conn: psycopg.Connection, row: ReadingRow) -> None:
        home = self.homes.get(row.home_id) if row.home_id else None
        if home is None:
            return  # a device in no (known) home: ingest stores it, no home can be alarmed
        if row.reading.device_id not in home.ctx.devices:
            self.load_homes()  # a device added since the last refresh
            home = self.homes.get(row.home_id or "")
            if home is None:
                return
        self.rules.readings += 1
        cands = on_reading(
            home.state, home.ctx, home.settings, home.baseline, row.reading, self._now(row.reading.ts)
        )
        home.dirty = True
        self._apply(conn, home, cands)

    # -- clock ----------------------------------------------------------------------------------------
    def _periodic(self) -> None:
        if time.monotonic() - self._tick_at < self.rcfg.tick_s:
            return
        self._tick_at = time.monotonic()
        try:
            self.tick()
        except psycopg.Error as exc:
            log.warning("tick failed (database): %s", str(exc).strip().splitlines()[0])
            self._drop_conn()

    def tick(self) -> None:
        """Evaluate time-based rules for every home, run due escalations, send the outbox."""
        conn = self._db()
        now = self._now()
        with conn.transaction():
            for home in self.homes.values():
                cands = on_tick(home.state, home.ctx, home.settings, home.baseline, now)
                if cands:
                    home.dirty = True
                    self._apply(conn, home, cands)
            saved = home_store.save_states(conn, self.homes)
            self.rules.escalations += escalation.run_due(conn, now=datetime.now(UTC))
        for h in saved:
            h.dirty = False
        sent, failed = outbox.deliver_pending(conn, self.channels, now=datetime.now(UTC))
        self.rules.notified += sent
        self.rules.notify_failed += failed
        self.rules.ticks += 1
