"""The ingest process's /healthz, /readyz and Prometheus /metrics reflect what it really did."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.support import DevicePublisher, IngestProcess, make_home, native_payload, wait_until
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.mqtt]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{name}\{{[^}}]*\}} ([0-9.e+]+)$", text, re.MULTILINE)
    assert m is not None, text
    return float(m.group(1))


def test_ingest_exposes_health_and_counters(
    settings: Settings, stack_dir: Path, db: psycopg.Connection, tmp_path: Path
) -> None:
    home = make_home(db, settings)
    db.commit()
    group = f"o{uuid.uuid4().hex[:6]}"
    ingest = IngestProcess(
        stack_dir, f"ops-{group}", tmp_path / "ops.log", "--shared-group", group, "--metrics-port", "0"
    )
    m = re.search(r"metrics and health on (http://127\.0\.0\.1:\d+)/metrics", ingest.log())
    assert m is not None, ingest.log()
    base = m.group(1)
    assert _get(base + "/healthz") == (200, "ok\n")
    assert wait_until(lambda: _get(base + "/readyz")[0] == 200, 10)
    pub = DevicePublisher(settings, home.native, home.passwords[home.native])
    for i in range(1, 51):
        pub.publish(f"eldercare/v1/devices/{home.native}/event", native_payload(i), wait=False)
    pub.publish(f"eldercare/v1/devices/{home.native}/event", b"not json")
    pub.close()
    assert wait_until(lambda: _metric(_get(base + "/metrics")[1], "eldercare_ingest_stored_total") >= 50, 20)
    text = _get(base + "/metrics")[1]
    assert _metric(text, "eldercare_ingest_dead_lettered_total") == 1
    assert _metric(text, "eldercare_ingest_broker_connected") == 1
    assert _get(base + "/nothing")[0] == 404
    assert ingest.stop() == 0
