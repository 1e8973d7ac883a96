"""A short fault drill end to end: kill -9 ingest and rules under load and SOS presses; nothing lost or missed."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from devices.types import DeviceKind, Reading, Room
from monitor.alerts import store
from monitor.rules.candidate import AlertCandidate
from monitor.rules.context import DeviceInfo
from monitor.rules.immediate import event_findings
from monitor.rules.kinds import Severity
from simulators.steady import Press
from web import bench_faults_tally as tally
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.mqtt, pytest.mark.slow, pytest.mark.timeout(240)]


def test_kill9_ingest_and_rules_loses_nothing(settings: Settings, stack_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "web.cli", "bench", "faults", "--dir", str(stack_dir), "--faults", "ingest,rules",
         "--homes", "5", "--rate", "50", "--sos-every-s", "1", "--settle-s", "2", "--json"],
        capture_output=True, text=True, timeout=220, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert set(result["faults"]) == {"ingest", "rules"}
    assert result["readings_acked"] == result["readings_published"] > 500  # ~50/s for ~15 s, all acked
    assert result["readings_lost"] == 0
    assert result["readings_stored"] >= result["readings_acked"]
    assert result["sos_pressed"] >= 10
    assert result["sos_missed"] == 0
    for name, fault in result["faults"].items():
        assert fault["sos_pressed"] >= 1, name  # at least the press made while it was down
        assert fault["sos_missed"] == 0, name
        assert fault["sos_to_alert_ms_max"] is not None, name
        assert fault["sos_to_alert_ms_max"] > 0, name
        assert fault["recovered_s"] is not None, name
        assert fault["recovered_s"] >= fault["back_s"] > 0, name
    # Rules was dead for at least --down-s (1.5 s): the press made then waited for the restart.
    assert result["faults"]["rules"]["sos_to_alert_ms_max"] >= 1500
    assert result["conditions"]["homes"] == 5


def test_tally_matches_presses_to_their_alerts_and_finds_a_missed_one(settings: Settings) -> None:
    """The counting itself can fail: a press without an alert naming it is missed."""
    conninfo = settings.db().conninfo()
    homes = tally.provision(conninfo, settings.mqtt(), tag=uuid.uuid4().hex[:6], homes=1, motion_per_home=1)
    home = homes.homes[0]
    button = homes.buttons[home][0]
    t0 = datetime.now(UTC).replace(microsecond=123000)
    presses = [Press(home, button, seq, t0 + timedelta(seconds=seq), t0.timestamp() + seq) for seq in (1, 2)]
    reading = Reading(button, presses[0].ts, 1, DeviceKind.SOS_BUTTON, {"action": "sos"})
    (finding,) = event_findings(reading, DeviceInfo(DeviceKind.SOS_BUTTON, Room.BEDROOM), presses[0].ts)
    with psycopg.connect(conninfo) as conn:  # the SOS rule's own evidence, written the way rules writes it
        cand = AlertCandidate(home, None, finding.kind, Severity.CRITICAL, finding.started_at, datetime.now(UTC),
                              finding.evidence, finding.reason_zh, finding.reason_en)  # fmt: skip
        store.apply_candidate(conn, cand, station_id=homes.station_id)
        conn.execute(
            "INSERT INTO reading (time, device_id, home_id, seq, kind, data) VALUES (%s, %s, %s, 7, 'motion', '{}')",
            (t0, homes.motion[0], home),
        )
        conn.commit()
        first, second = tally.answers(conn, homes.homes, presses)
        stored = tally.stored_keys(conn, homes.motion)
    assert first.actions == ("raised",)
    assert first.delay_ms is not None
    assert second.alerted_at is None  # missed
    assert second.delay_ms is None
    assert stored == [(homes.motion[0], 7)]
