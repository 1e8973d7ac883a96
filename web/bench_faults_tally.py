"""What a fault drill counts in the database: its homes and devices, the SOS alerts (resolved as they come,
so that every press must raise a new one), the readings stored, and which alert answered which press.

A press is matched to the alert events whose evidence names its device and its reading's timestamp (the
SOS rule copies both into ``alert_event.detail.evidence``): ``raised`` is a new alert; ``evidence`` means the
press landed on an alert of that home still unresolved (it is counted as alerted, and reported apart).
Every query here retries through a database restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import psycopg

from devices import provisioning, registry
from devices.errors import ConflictError
from devices.settings import MqttSettings
from devices.types import DeviceKind, Room
from monitor.alerts import store
from simulators.steady import Key, Press

T = TypeVar("T")
ALERTED = ("raised", "evidence", "reopened", "returned")


@dataclass(frozen=True)
class DrillHomes:
    station_id: str
    homes: list[str]
    motion: list[str]  # the steady load's devices (published through the ops account)
    buttons: dict[str, tuple[str, str]]  # home id -> (SOS device id, its broker password)


def provision(
    conninfo: str, broker: MqttSettings, *, tag: str, homes: int, motion_per_home: int
) -> DrillHomes:
    """A station of ``homes`` homes, each with a resident, motion sensors and a provisioned SOS button."""
    station = f"faults-{tag}"
    rooms = (Room.LIVING_ROOM, Room.BEDROOM, Room.BATHROOM, Room.KITCHEN)
    home_ids, motion, sos = [], [], {}
    with psycopg.connect(conninfo) as conn:
        registry.add_station(conn, id=station, name="故障演练 fault drill", lat=29.72, lon=106.63)
        for i in range(homes):
            home = f"faults-{tag}-h{i}"
            registry.add_home(conn, id=home, station_id=station, address=f"drill {i}", lat=29.72, lon=106.63)
            registry.add_resident(conn, id=f"faults-{tag}-r{i}", home_id=home, name=f"drill {i}")
            for j in range(motion_per_home):
                motion.append(f"faults-{tag}-m{i}x{j}")
                registry.add_device(
                    conn, id=motion[-1], home_id=home, kind=DeviceKind.MOTION, room=rooms[j % 4]
                )
            sos[home] = f"faults-{tag}-s{i}"
            registry.add_device(
                conn, id=sos[home], home_id=home, kind=DeviceKind.SOS_BUTTON, room=Room.BEDROOM
            )
            home_ids.append(home)
        creds = provisioning.provision_many(conn, device_ids=list(sos.values()), broker=broker)
    passwords = {c.device_id: c.password for c in creds}
    return DrillHomes(station, home_ids, motion, {h: (d, passwords[d]) for h, d in sos.items()})


class Db:
    """One connection that is opened again after the server went away; each call retries until ``timeout_s``."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection | None = None

    def call(self, fn: Callable[[psycopg.Connection], T], timeout_s: float = 120.0) -> T:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self.conninfo, connect_timeout=3, autocommit=True)
                return fn(self._conn)
            except psycopg.OperationalError:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class Resolver(threading.Thread):
    """Resolves the drill's open SOS alerts a moment after they appear, as staff would, through the alert
    lifecycle (``monitor.alerts.store.resolve``), so that the home's next press must raise a new alert."""

    def __init__(self, conninfo: str, homes: Sequence[str], every_s: float = 0.2) -> None:
        super().__init__(name="sos-resolver", daemon=True)
        self.conninfo, self.homes, self.every_s = conninfo, list(homes), every_s
        self.stop_event = threading.Event()
        self.resolved = 0

    def run(self) -> None:
        while not self.stop_event.wait(self.every_s):
            try:
                with psycopg.connect(self.conninfo, connect_timeout=3) as conn:
                    while not self.stop_event.wait(self.every_s):
                        self._pass(conn)
            except psycopg.OperationalError:
                continue  # the database is restarting: try again

    def _pass(self, conn: psycopg.Connection) -> None:
        rows = conn.execute(
            "SELECT id FROM alert WHERE kind = 'sos' AND status <> 'resolved' AND home_id = ANY(%s)",
            (self.homes,),
        ).fetchall()
        conn.commit()
        for (alert_id,) in rows:
            try:
                store.resolve(conn, alert_id, actor="bench-faults", outcome="no_action_needed")
                conn.commit()
                self.resolved += 1
            except ConflictError:
                conn.rollback()


def stored_count(conn: psycopg.Connection, devices: Sequence[str]) -> int:
    row = conn.execute("SELECT count(*) FROM reading WHERE device_id = ANY(%s)", (list(devices),)).fetchone()
    return int(row[0]) if row else 0


def stored_keys(conn: psycopg.Connection, devices: Sequence[str]) -> list[Key]:
    """Every stored (device, seq) of these devices, duplicates included (there should be none)."""
    rows = conn.execute(
        "SELECT device_id, seq FROM reading WHERE device_id = ANY(%s)", (list(devices),)
    ).fetchall()
    return [(str(d), int(s)) for d, s in rows]


@dataclass(frozen=True)
class Answer:
    """How the platform answered one press."""

    press: Press
    alerted_at: float | None  # the first alert event's time (wall clock), None when missed
    actions: tuple[str, ...]  # raised / evidence / …, one per alert event naming this press

    @property
    def delay_ms(self) -> float | None:
        return None if self.alerted_at is None else (self.alerted_at - self.press.pressed_at) * 1000


def answers(conn: psycopg.Connection, homes: Sequence[str], presses: Sequence[Press]) -> list[Answer]:
    """Each press with the alert events that name it (device and reading time from the rule's evidence)."""
    rows = conn.execute(
        "SELECT e.at, e.action, e.detail->'evidence'->>'device_id', e.detail->'evidence'->>'reading_ts' "
        "FROM alert_event e JOIN alert a ON a.id = e.alert_id "
        "WHERE a.kind = 'sos' AND a.home_id = ANY(%s) AND e.action = ANY(%s) ORDER BY e.id",
        (list(homes), list(ALERTED)),
    ).fetchall()
    events: dict[tuple[str, datetime], list[tuple[float, str]]] = {}
    for at, action, device, reading_ts in rows:
        if device and reading_ts:
            events.setdefault((device, datetime.fromisoformat(reading_ts)), []).append(
                (at.timestamp(), action)
            )
    out = []
    for p in presses:
        found = events.get((p.device_id, p.ts), [])
        out.append(Answer(p, min((t for t, _ in found), default=None), tuple(a for _, a in found)))
    return out
