"""Reserved broker account names (one check for devices, gateways and users) and the password file writer."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.accounts import (
    PLATFORM_ACCOUNTS,
    RELOAD_CANARY,
    RESERVED_PREFIX,
    ReservedName,
    check_not_reserved,
    is_reserved,
)
from devices.csv_import import DeviceCsvRow
from devices.errors import ValidationFailed
from devices.mqtt_auth import SERVICE_ACL, password_file_text, write_atomic
from devices.types import DEVICE_ID_RE
from web.settings import Settings
from web.stack import edge, stack
from web.stack.mosquitto import MAX_PACKET_BYTES, MAX_QUEUED_BYTES, MqttPaths, broker_conf

DEVICE_IDS = st.from_regex(DEVICE_ID_RE, fullmatch=True)
ANY_TAIL = st.text(max_size=40)


def _mixed_case(prefix: str, flips: list[bool]) -> str:
    return "".join(c.upper() if flip else c for c, flip in zip(prefix, flips, strict=False))


def test_every_account_the_platform_creates_is_reserved() -> None:
    created = {
        *stack.SERVICE_ACCOUNTS,
        *SERVICE_ACL,
        edge.BRIDGE_ACCOUNT,
        Settings.model_fields["mqtt_username"].default,
        Settings.model_fields["mqtt_ops_username"].default,
    }
    assert created <= PLATFORM_ACCOUNTS
    assert all(is_reserved(name) for name in PLATFORM_ACCOUNTS)
    assert all(name.startswith(RESERVED_PREFIX) for name in PLATFORM_ACCOUNTS)


@given(tail=ANY_TAIL, flips=st.lists(st.booleans(), min_size=4, max_size=4))
def test_the_prefix_is_reserved_in_any_case_and_width(tail: str, flips: list[bool]) -> None:
    assert is_reserved(RESERVED_PREFIX + tail)
    assert is_reserved(_mixed_case(RESERVED_PREFIX, flips) + tail)
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "svc") + "-" + tail  # ｓｖｃ-…
    assert is_reserved(fullwidth)
    assert is_reserved(f"  {RESERVED_PREFIX}{tail}")


@given(name=DEVICE_IDS)
def test_ordinary_ids_pass_and_reserved_ones_are_refused_with_a_reason(name: str) -> None:
    if name.startswith(RESERVED_PREFIX):
        with pytest.raises(ReservedName) as refused:
            check_not_reserved(name, what="device id")
        assert isinstance(refused.value, ValidationFailed)  # mapped to HTTP 422 / CLI exit 1
        assert refused.value.code == "reserved_name"
        assert "reserved" in refused.value.message
        assert repr(name) in refused.value.message
    else:
        assert not is_reserved(name)
        check_not_reserved(name, what="device id")


@pytest.mark.parametrize("name", [*sorted(PLATFORM_ACCOUNTS), "svc-x", "svc-ingest-2"])
def test_csv_rows_with_reserved_ids_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        DeviceCsvRow.model_validate({"id": name, "kind": "motion"})
    assert DeviceCsvRow.model_validate({"id": "svcx-1", "kind": "motion"}).id == "svcx-1"


SERVICE = {"svc-ingest": "$7$i", "svc-ops": "$7$o", "svc-bridge": "$7$b", RELOAD_CANARY: "$7$c"}
NAMES = st.one_of(st.sampled_from([*sorted(SERVICE), "svc-new", "SVC-OPS"]), DEVICE_IDS)
HASHES = st.text(alphabet=string.ascii_letters + string.digits + "$/+=", min_size=1, max_size=20)


@given(devices=st.dictionaries(NAMES, HASHES, max_size=30))
def test_password_file_never_repeats_a_name_nor_lets_a_device_take_a_platform_account(
    devices: dict[str, str],
) -> None:
    lines = [line.split(":", 1) for line in password_file_text(SERVICE, devices).splitlines()]
    users = [user for user, _ in lines]
    assert len(users) == len(set(users))
    assert lines[: len(SERVICE)] == [[u, h] for u, h in SERVICE.items()]  # platform accounts first, untouched
    written_devices = dict(lines[len(SERVICE) :])
    assert not any(is_reserved(u) for u in written_devices)
    assert written_devices == {u: h for u, h in devices.items() if not is_reserved(u)}


def test_atomic_write_replaces_whole_files_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "passwd"
    write_atomic(target, "svc-ops:$7$a\n")
    assert target.read_text() == "svc-ops:$7$a\n"
    assert target.stat().st_mode & 0o777 == 0o600
    write_atomic(target, "svc-ops:$7$b\ndev-1:$7$c\n")
    assert target.read_text() == "svc-ops:$7$b\ndev-1:$7$c\n"

    def no_disk(_fd: int) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "fsync", no_disk)
    with pytest.raises(OSError, match="disk gone"):
        write_atomic(target, "half")
    assert target.read_text() == "svc-ops:$7$b\ndev-1:$7$c\n"  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]  # no temp file left


def test_broker_conf_bounds_packets_and_queues(tmp_path: Path) -> None:
    conf = broker_conf(MqttPaths(tmp_path), port=1883, passwd=tmp_path / "p", acl=tmp_path / "a")
    settings = dict(line.split(" ", 1) for line in conf.splitlines() if line and not line.startswith("#"))
    assert int(settings["max_packet_size"]) == MAX_PACKET_BYTES == 262_144
    assert int(settings["max_queued_bytes"]) == MAX_QUEUED_BYTES == 256 * 2**20
    assert "message_size_limit" not in settings
