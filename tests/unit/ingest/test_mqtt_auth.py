"""Password hashes in Mosquitto's own format, checked against mosquitto_passwd, and the ACL rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from devices.mqtt_auth import (
    acl_text,
    hash_password,
    read_password_file,
    verify_password,
    write_password_file,
)


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd not installed")
def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(f), "dev-1", "s3cret"], check=True, capture_output=True
    )
    encoded = read_password_file(f)["dev-1"]
    assert encoded.startswith("$7$")
    assert verify_password("s3cret", encoded)
    assert not verify_password("other", encoded)


def test_hash_round_trip_and_salt() -> None:
    a, b = hash_password("pw"), hash_password("pw")
    assert a != b  # random salt
    assert verify_password("pw", a)
    assert verify_password("pw", b)
    assert not verify_password("pw", "plain")


def test_password_file_keeps_service_accounts_first(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.write_text("svc-ops:$7$x\n")
    out = tmp_path / "passwd"
    write_password_file(out, base, {"dev-b": "$7$b", "dev-a": "$7$a"})
    assert out.read_text().splitlines() == ["svc-ops:$7$x", "dev-a:$7$a", "dev-b:$7$b"]
    assert out.stat().st_mode & 0o077 == 0


def test_acl_confines_devices_to_their_own_id() -> None:
    text = acl_text()
    assert "pattern write eldercare/v1/devices/%u/event" in text
    assert "pattern read eldercare/v1/devices/%u/cmd" in text
    assert "topic readwrite #" not in text
