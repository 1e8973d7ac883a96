"""`eldercare devices add / list / provision / revoke` through the real CLI, stack and broker."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from devices import registry
from devices.mqtt_auth import read_password_file, verify_password
from web.settings import Settings
from web.stack import mosquitto

pytestmark = [pytest.mark.db, pytest.mark.mqtt]


def _cli(stack_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args, "--dir", str(stack_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_add_list_provision_revoke(stack_dir: Path, settings: Settings, db: psycopg.Connection) -> None:
    tag = uuid.uuid4().hex[:6]
    registry.add_station(db, id=f"st-{tag}", name="站", lat=29.7, lon=106.6)
    registry.add_home(db, id=f"h-{tag}", station_id=f"st-{tag}", address="路", lat=29.7, lon=106.6)
    db.commit()
    dev = f"smoke-{tag}"
    added = _cli(
        stack_dir, "devices", "add", "--id", dev, "--kind", "smoke", "--home", f"h-{tag}", "--room", "kitchen"
    )
    assert added.returncode == 0, added.stderr
    again = _cli(stack_dir, "devices", "add", "--id", dev, "--kind", "smoke", "--home", f"h-{tag}")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    bad = _cli(stack_dir, "devices", "add", "--id", "X!", "--kind", "smoke")
    assert bad.returncode == 1
    assert "device id" in bad.stderr
    wrong_kind = _cli(stack_dir, "devices", "add", "--id", f"x-{tag}", "--kind", "toaster")
    assert wrong_kind.returncode == 2

    prov = _cli(stack_dir, "devices", "provision", dev)
    assert prov.returncode == 0, prov.stderr
    creds = json.loads(prov.stdout)
    assert creds["username"] == dev
    stored = db.execute("SELECT password_hash, status FROM device WHERE id = %s", (dev,)).fetchone()
    assert stored is not None
    assert stored[1] == "provisioned"
    assert creds["password"] not in stored[0]  # only the hash is kept
    assert verify_password(creds["password"], stored[0])
    assert settings.mqtt_password_file is not None
    assert read_password_file(settings.mqtt_password_file)[dev] == stored[0]
    assert mosquitto.connack(settings.mqtt_port, dev, creds["password"]) == 0  # applied without a restart

    listed = _cli(stack_dir, "devices", "list", "--home", f"h-{tag}", "--json")
    assert listed.returncode == 0
    assert [(d["id"], d["status"]) for d in json.loads(listed.stdout)] == [(dev, "provisioned")]

    assert _cli(stack_dir, "devices", "revoke", dev).returncode == 0
    assert mosquitto.connack(settings.mqtt_port, dev, creds["password"]) != 0
    twice = _cli(stack_dir, "devices", "revoke", dev)
    assert twice.returncode == 1
    assert "already revoked" in twice.stderr
    missing = _cli(stack_dir, "devices", "provision", f"nope-{tag}")
    assert missing.returncode == 1
    assert "no device" in missing.stderr
