"""Demo people acting through the same HTTP API as the dashboard and the phone app.

The duty officer sends the nearest suggested caregiver to every safety alert and resolves it once the
visit is done (device-health alerts are acknowledged and resolved); caregivers do urgent jobs at once and
work through today's plan on an accelerated clock (``speed`` plan-minutes per real minute, from 08:30; the
demo runs it at three times the simulators' speed so that a two-minute demo shows a morning's visits).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta
from typing import Any

from dispatcher.records import DEFAULT_TZ

log = logging.getLogger("eldercare.demo.bots")
SEND = {"sos", "fall", "smoke", "gas", "water_leak", "inactivity", "not_up", "no_water", "long_bathroom",
        "no_activity", "night_exit", "indoor_cold", "indoor_heat"}  # fmt: skip


class Api:
    """A small JSON client with a bearer token."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url, self.username, self.password = base_url, username, password
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self.token is None:
            self.token = self._request("POST", "/api/auth/login", {"username": self.username,
                                                                   "password": self.password})["access_token"]  # fmt: skip
        try:
            return self._request(method, path, body)
        except urllib.error.HTTPError as exc:
            if exc.code != 401:
                raise
            self.token = None  # expired: log in again once
            return self.call(method, path, body)

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")


class DemoBots(threading.Thread):
    def __init__(
        self, base_url: str, *, officer: tuple[str, str], caregivers: list[str], password: str, speed: float
    ) -> None:
        super().__init__(name="demo-bots", daemon=True)
        self.officer = Api(base_url, *officer)
        self.carers = [Api(base_url, cg, password) for cg in caregivers]
        self.speed = speed
        self.stop = threading.Event()
        self.done_tasks: set[str] = set()
        self.began = time.monotonic()
        self.clock0 = datetime.now(DEFAULT_TZ).replace(hour=8, minute=30, second=0, microsecond=0)
        self._checked_in: dict[str, float] = {}
        self.counts = {"assigned": 0, "resolved": 0, "check_ins": 0, "check_outs": 0, "errors": 0}

    def plan_clock(self) -> datetime:
        return self.clock0 + timedelta(minutes=self.speed * (time.monotonic() - self.began) / 60)

    def run(self) -> None:
        while not self.stop.wait(2.0):
            for step in (self._officer_round, self._carers_round):
                try:
                    step()
                except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
                    self.counts["errors"] += 1
                    log.warning("demo bot: %s", exc)

    def _officer_round(self) -> None:
        for alert in self.officer.call("GET", "/api/alerts?status=active&limit=200"):
            aid = alert["id"]
            if alert["status"] == "assigned":
                if alert["task_id"] is not None and str(alert["task_id"]) in self.done_tasks:
                    self._resolve(aid, "real_incident", "护理员已上门处置 / caregiver attended")
                continue
            if alert["kind"] not in SEND:
                self._resolve(aid, "no_action_needed", "设备问题已通知家属 / device issue passed to family")
                continue
            nearest = self.officer.call("GET", f"/api/alerts/{aid}/suggestions")
            if nearest:
                self.officer.call(
                    "POST", f"/api/alerts/{aid}/assign", {"caregiver_id": nearest[0]["caregiver_id"]}
                )
                self.counts["assigned"] += 1

    def _resolve(self, alert_id: int, outcome: str, notes: str) -> None:
        self.officer.call("POST", f"/api/alerts/{alert_id}/resolve", {"outcome": outcome, "notes": notes})
        self.counts["resolved"] += 1

    def _carers_round(self) -> None:
        now_plan = self.plan_clock()
        for api in self.carers:
            for v in api.call("GET", "/api/my/visits"):
                tid = v["task_id"]
                due = v["urgent"] or datetime.fromisoformat(v["planned_start"]) <= now_plan
                if v["status"] in ("pending", "planned") and due:
                    self._act(api, tid, "check-in")
                    self._checked_in[tid] = time.monotonic()
                    self.counts["check_ins"] += 1
                elif v["status"] == "started":
                    finished = (
                        time.monotonic() - self._checked_in.get(tid, 0) > 5
                        if v["urgent"]
                        else datetime.fromisoformat(v["planned_end"]) <= now_plan
                    )
                    if finished:
                        self._act(api, tid, "check-out", notes="演示：服务完成 / demo: service done")
                        self.done_tasks.add(tid)
                        self.counts["check_outs"] += 1

    @staticmethod
    def _act(api: Api, task_id: str, action: str, notes: str = "") -> None:
        body: dict[str, Any] = {"client_action_id": uuid.uuid4().hex}
        if notes:
            body["notes"] = notes
        api.call("POST", f"/api/my/visits/{task_id}/{action}", body)
