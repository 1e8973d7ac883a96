"""CSV bulk import (all or nothing, every bad row named) and per-home device health from ingested data."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from devices import registry
from devices.csv_import import ImportFailed, import_csv
from devices.health import home_health
from devices.types import DeviceKind, Room
from tests.support import count

pytestmark = [pytest.mark.db]


def _homes_csv(tag: str, *, bad: bool) -> str:
    lines = [
        "id,station_id,address,lat,lon,access_notes",
        f"h-{tag}-1,st-{tag},渝北区龙溪街道 1 号,29.61,106.52,钥匙在邻居家",
        f"h-{tag}-2,st-{tag},渝北区龙溪街道 2 号,29.62,106.53,",
    ]
    if bad:
        lines += [
            f"h-{tag}-3,st-{tag},,29.6,106.5,",
            f"h-{tag}-4,st-nowhere,路,95,106.5,",
            f"h-{tag}-1,st-{tag},路,29.6,106.5,",
        ]
    return "\n".join(lines) + "\n"


def test_csv_import_is_all_or_nothing_with_a_report_per_row(db: psycopg.Connection) -> None:
    tag = uuid.uuid4().hex[:6]
    registry.add_station(db, id=f"st-{tag}", name="龙溪站", lat=29.6, lon=106.5)
    with pytest.raises(ImportFailed) as failed:
        import_csv(db, entity="homes", text=_homes_csv(tag, bad=True))
    lines = {e.line: str(e) for e in failed.value.report.errors}
    assert set(lines) == {4, 5, 6}
    assert "address" in lines[4]
    assert "lat" in lines[5]
    assert "already exists" in lines[6]  # a duplicate of line 2, caught in the same transaction
    assert count(db, "SELECT count(*) FROM home WHERE id LIKE %s", f"h-{tag}-%") == 0
    report = import_csv(db, entity="homes", text=_homes_csv(tag, bad=False))
    assert report.imported == 2
    assert count(db, "SELECT count(*) FROM home WHERE id LIKE %s", f"h-{tag}-%") == 2


def test_csv_residents_and_devices_validate_nested_fields(db: psycopg.Connection) -> None:
    tag = uuid.uuid4().hex[:6]
    registry.add_home(db, id=f"h-{tag}", station_id=None, address="路", lat=29.6, lon=106.5)
    contacts = '"[{""name"": ""王芳"", ""phone"": ""+86 138 0000 0000"", ""consent_notify"": true}]"'
    residents = (
        f"id,home_id,name,birth_year,sex,emergency_contacts\nr-{tag},h-{tag},李奶奶,1938,F,{contacts}\n"
    )
    assert import_csv(db, entity="residents", text=residents).imported == 1
    devices = f"id,home_id,kind,room\nm-{tag},h-{tag},motion,bathroom\nx-{tag},h-{tag},toaster,kitchen\n"
    with pytest.raises(ImportFailed, match="line 3: kind"):
        import_csv(db, entity="devices", text=devices)


def test_cli_import_reports_bad_header(stack_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "homes.csv"
    f.write_text("id,colour\nx,red\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "web.cli", "devices", "import", str(f), "--entity", "homes", "--dir", str(stack_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 1
    assert "unknown column(s) colour" in out.stderr


def test_home_health_from_health_rows(db: psycopg.Connection) -> None:
    tag = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    registry.add_home(db, id=f"h-{tag}", station_id=None, address="路", lat=29.6, lon=106.5)
    for dev, kind in ((f"gw-{tag}", DeviceKind.GATEWAY), (f"m-{tag}", DeviceKind.MOTION),
                      (f"s-{tag}", DeviceKind.SMOKE), (f"d-{tag}", DeviceKind.DOOR)):  # fmt: skip
        registry.add_device(db, id=dev, home_id=f"h-{tag}", kind=kind, room=Room.HALLWAY)
    db.execute(
        """INSERT INTO device_health (device_id, last_seen, battery, reported_status, reported_status_at) VALUES
           (%s, %s, 90, NULL, NULL), (%s, %s, 12, NULL, NULL), (%s, %s, 80, 'offline', %s)""",
        (f"m-{tag}", now - timedelta(minutes=5), f"s-{tag}", now - timedelta(hours=3),
         f"gw-{tag}", now - timedelta(minutes=1), now),
    )  # fmt: skip
    health = {h.device_id: h for h in home_health(db, home_id=f"h-{tag}", now=now)}
    assert health[f"m-{tag}"].state == "online"
    assert health[f"s-{tag}"].state == "offline"
    assert "silent for 180 min" in health[f"s-{tag}"].reason
    assert health[f"s-{tag}"].battery_low
    assert health[f"gw-{tag}"].state == "offline"
    assert "reported offline" in health[f"gw-{tag}"].reason
    assert health[f"d-{tag}"].state == "never_seen"
