"""``eldercare bench faults``: fault drills under a steady load, with SOS presses every few seconds.

In turn, with a quiet period before each: kill -9 ingest, rules, the planner and the API (each started again
after ``down_s``, with the same worker id, as a supervisor would), stop and start the broker (same
persistence) and PostgreSQL. Throughout, a steady load of motion readings, each with its own (device, seq),
and an SOS press every ``sos_every_s`` from the next home's button (its own credentials, QoS 1) plus one
right after each kill or stop, while a resolver closes SOS alerts as staff would. After each fault the drill
waits until the system has caught up: every process answers ``/readyz`` (a process that exited on its own is
started again and named in ``crashed``), every press older than a second has its alert, and the readings
stored have reached what the broker had acknowledged a second before.

At the end (load stopped, acknowledgements and storage drained) it compares every message the broker
acknowledged, readings and presses, with what was stored (lost = acknowledged but not stored), matches every press to its alert and reports, per
fault, the worst press → alert delay among the presses made between the fault and the recovery. Both times
are this machine's wall clock: the press just before publishing, the alert event's ``clock_timestamp()``
in the transaction that commits the alert.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from monitor.evaluation import percentile
from simulators.steady import AckedClient, Broker, SosButtons, SteadyLoad
from web import bench_faults_tally as tally
from web.bench_faults_fleet import PROCESSES, SERVERS, Fleet
from web.settings import Settings

FAULTS = (*PROCESSES, *SERVERS)


@dataclass
class DrillConfig:
    homes: int = 50
    rate: float = 200.0  # background readings per second, all homes together
    sos_every_s: float = 2.0
    settle_s: float = 5.0  # quiet period before the first and between faults
    down_s: float = 1.5  # how long a killed process or a stopped server stays down
    faults: tuple[str, ...] = FAULTS
    motion_per_home: int = 2
    catch_up_timeout_s: float = 90.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Window:
    fault: str
    began: float
    back: float | None = None  # the broken part is running (and ready) again
    recovered: float | None = None  # everything caught up
    crashed: list[str] = field(default_factory=list)  # other processes that exited during the window
    waited: dict[str, float] = field(default_factory=dict)  # what lagged -> seconds after the fault last seen

    def holds(self, t: float, timeout_s: float) -> bool:
        return self.began <= t <= (self.recovered or self.began + timeout_s)


class Presser(threading.Thread):
    def __init__(self, buttons: SosButtons, every_s: float) -> None:
        super().__init__(name="sos-presser", daemon=True)
        self.buttons, self.every_s = buttons, every_s
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.buttons.press()
            self.stop_event.wait(self.every_s)


@dataclass
class _Rig:
    """Everything a drill runs: processes, publishers, the resolver, and a database handle for the checks."""

    cfg: DrillConfig
    homes: tally.DrillHomes
    fleet: Fleet
    db: tally.Db
    load_client: AckedClient
    buttons: SosButtons
    say: Callable[[str], None]

    def lagging(self) -> list[str]:
        """What has not caught up yet (empty: all of it), checked in order: the processes not ready, SOS presses
        without their alert, fewer readings stored than the broker had acknowledged a second before.

        (Readings take a moment from PUBACK to commit, ingest batching included: comparing with what was
        acknowledged at the same instant would never pass under a steady load.)"""
        before = time.time() - 1.0
        acked = self.load_client.acked_before(before)
        presses = [p for p in self.buttons.presses if p.pressed_at <= before]
        if waiting := self.fleet.not_ready():
            return [f"ready:{name}" for name in waiting]
        found = self.db.call(lambda c: tally.answers(c, self.homes.homes, presses))
        if any(a.alerted_at is None for a in found):
            return ["sos_alerts"]
        stored = self.db.call(lambda c: tally.stored_count(c, self.homes.motion))
        return [] if stored >= acked else ["storage"]

    def inject(self, fault: str) -> Window:
        w = Window(fault, time.time())
        crashes_before = len(self.fleet.crashes)
        if fault in PROCESSES:
            self.fleet.kill9(fault)
            self.buttons.press()  # one press while it is down, whatever the presser's phase
            time.sleep(self.cfg.down_s)
            self.fleet.restart(fault)
            self.fleet.wait_ready(self.cfg.catch_up_timeout_s, [fault])
        else:
            self.fleet.stop_server(fault)
            self.buttons.press()
            time.sleep(self.cfg.down_s)
            self.fleet.start_server(fault)
        w.back = time.time()
        deadline = time.monotonic() + self.cfg.catch_up_timeout_s
        while time.monotonic() < deadline:
            self.fleet.revive()
            lag = self.lagging()
            if not lag:
                w.recovered = time.time()
                break
            w.waited |= {what: round(time.time() - w.began, 2) for what in lag}
            time.sleep(0.3)
        w.crashed = [what for _, what in self.fleet.crashes[crashes_before:]]
        rec = f"recovered in {w.recovered - w.began:.1f} s" if w.recovered else "NOT caught up"
        self.say(
            f"{fault}: back in {w.back - w.began:.1f} s, {rec}"
            + (f"; crashed: {w.crashed}" if w.crashed else "")
        )
        return w


def _p50(values: Sequence[float]) -> float | None:
    p = percentile(values, 50)
    return None if p is None else round(p, 1)


def run_drill(
    settings: Settings, cfg: DrillConfig, *, say: Callable[[str], None] = lambda _m: None
) -> dict[str, Any]:
    """Run the drills on the stack of ``settings`` (migrated); returns the figures (see the module doc)."""
    began, tag = time.time(), uuid.uuid4().hex[:6]
    conninfo, ops = settings.db().conninfo(), settings.mqtt(ops=True)
    homes = tally.provision(
        conninfo, settings.mqtt(), tag=tag, homes=cfg.homes, motion_per_home=cfg.motion_per_home
    )
    say(
        f"{cfg.homes} homes: {len(homes.motion)} motion sensors, {len(homes.buttons)} SOS buttons (tag {tag})"
    )
    broker = Broker(ops.host, ops.port)
    load_client = AckedClient(broker, username=ops.username, password=ops.password.get_secret_value(),
                              client_id=f"bench-faults-load-{tag}", max_inflight=500)  # fmt: skip
    buttons = SosButtons(broker, homes.buttons, tag)
    fleet = Fleet(settings, tag, settings.stack_dir / f"bench-faults-{tag}")
    rig = _Rig(cfg, homes, fleet, tally.Db(conninfo), load_client, buttons, say)
    resolver = tally.Resolver(conninfo, homes.homes)
    load = SteadyLoad(load_client, homes.motion, cfg.rate)
    presser = Presser(buttons, cfg.sos_every_s)
    windows: list[Window] = []
    try:
        fleet.start_all()
        say("ingest, rules, planner and API ready")
        load_client.start()
        buttons.start()
        for t in (resolver, load, presser):
            t.start()
        time.sleep(cfg.settle_s)
        for fault in cfg.faults:
            windows.append(rig.inject(fault))
            time.sleep(cfg.settle_s)
        achieved = load.rate_achieved
        presser.stop_event.set()
        load.stop_event.set()
        presser.join(10)
        load.join(10)
        say("load stopped: draining")
        unacked = load_client.close(drain_s=60) + buttons.close(drain_s=30)
        result = _readings(rig, unacked) | _sos(rig, windows)
        result["readings_per_s"] = round(achieved or 0.0, 1)
    finally:
        for t in (presser, load, resolver):
            t.stop_event.set()
        load_client.close(drain_s=0)
        buttons.close(drain_s=0)
        fleet.stop_all()
        rig.db.close()
    result["seconds"] = round(time.time() - began, 1)
    result["conditions"] = _conditions(cfg, homes)
    return result


def _drain_storage(rig: _Rig, devices: list[str], acked: int, timeout_s: float = 120.0) -> None:
    """Wait until the stored count reaches ``acked`` or stops moving for 15 s."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        n = rig.db.call(lambda c: tally.stored_count(c, devices))
        if n >= acked:
            return
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > 15:
            return
        time.sleep(0.5)


def _readings(rig: _Rig, unacked: int) -> dict[str, Any]:
    """Every message the broker acknowledged (the load's readings and the presses) against what was stored."""
    devices = rig.homes.motion + [d for d, _ in rig.homes.buttons.values()]
    acked = set(rig.load_client.acked) | set(rig.buttons.acked())
    _drain_storage(rig, devices, len(acked))
    stored_list = rig.db.call(lambda c: tally.stored_keys(c, devices))
    stored = set(stored_list)
    return {
        "readings_published": rig.load_client.published + len(rig.buttons.presses),
        "readings_acked": len(acked),
        "readings_stored": len(stored),
        "readings_lost": len(acked - stored),
        "readings_duplicated": len(stored_list) - len(stored),
        "readings_unacked": unacked,
        "lost_sample": sorted(acked - stored)[:10],
    }


def _sos(rig: _Rig, windows: list[Window]) -> dict[str, Any]:
    """Every press matched to its alert (waiting up to 30 s for the last ones), overall and per fault window."""
    presses = list(rig.buttons.presses)
    deadline = time.monotonic() + 30
    while True:
        found = rig.db.call(lambda c: tally.answers(c, rig.homes.homes, presses))
        if all(a.alerted_at is not None for a in found) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    sos_acked = rig.buttons.acked()
    delays = [d for a in found if (d := a.delay_ms) is not None]
    faults = {}
    for w in windows:
        mine = [a for a in found if w.holds(a.press.pressed_at, rig.cfg.catch_up_timeout_s)]
        lat = [d for a in mine if (d := a.delay_ms) is not None]
        faults[w.fault] = {
            "sos_pressed": len(mine),
            "sos_missed": len(mine) - len(lat),
            "sos_to_alert_ms_max": round(max(lat), 1) if lat else None,
            "sos_to_alert_ms_p50": _p50(lat),
            "back_s": round(w.back - w.began, 2) if w.back else None,
            "recovered_s": round(w.recovered - w.began, 2) if w.recovered else None,
            "crashed": w.crashed,
            "waited_for": w.waited,
        }
    calm = [d for a in found if (d := a.delay_ms) is not None
            and not any(w.holds(a.press.pressed_at, rig.cfg.catch_up_timeout_s) for w in windows)]  # fmt: skip
    return {
        "sos_pressed": len(found),
        "sos_acked": sum((a.press.device_id, a.press.seq) in sos_acked for a in found),
        "sos_alerted": len(delays),
        "sos_missed": len(found) - len(delays),
        "sos_on_open_alert": sum(bool(a.actions) and a.actions[0] != "raised" for a in found),
        "sos_duplicate_alerts": sum(a.actions.count("raised") > 1 for a in found),
        "sos_to_alert_ms_p50": _p50(delays),
        "sos_to_alert_ms_max": round(max(delays), 1) if delays else None,
        "faults": faults,
        "calm": {
            "sos_pressed": len(calm),
            "sos_to_alert_ms_p50": _p50(calm),
            "sos_to_alert_ms_max": round(max(calm), 1) if calm else None,
        },
    }


def _conditions(cfg: DrillConfig, homes: tally.DrillHomes) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "paho_mqtt": version("paho-mqtt"),
        "homes": cfg.homes,
        "motion_sensors": len(homes.motion),
        "sos_buttons": len(homes.buttons),
        "rate_per_s": cfg.rate,
        "sos_every_s": cfg.sos_every_s,
        "sos_at_fault": "one extra press right after each kill or stop, besides the regular ones",
        "settle_s": cfg.settle_s,
        "down_s": cfg.down_s,
        "faults": list(cfg.faults),
        "load": "one paho MQTT v5 client (ops account), QoS 1, persistent session, resends after reconnect",
        "reconnect": "publishers retry 0.1 s after a drop, backing off to 0.5 s",
        "sos": "one paho client per button (its own credentials), QoS 1, persistent session",
        "resolver": "SOS alerts resolved through the alert lifecycle as they appear (every 0.2 s)",
        "delay": "press (wall clock before publish) -> alert_event.at of the alert that names the press",
        "fault_window": "from the fault until every process is ready, every press alerted, storage caught up",
        "process_restart": "kill -9, restarted after down_s with the same worker id (persistent sessions)",
        "broker_restart": "SIGTERM (persistence saved), started again after down_s on the same port",
        "postgres_restart": "pg_ctl stop -m fast, started again after down_s",
        **cfg.extra,
    }
