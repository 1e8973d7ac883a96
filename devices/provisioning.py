"""Broker credentials per device: provision (password shown once, stored only hashed) and revoke (cut off at once).

The database is the source of truth; the broker's password file is regenerated from it and Mosquitto (the core
and every edge broker reading the same file) is told to reload (SIGHUP), which also disconnects clients whose
account is gone. An advisory lock keeps two
concurrent changes from writing the file out of order.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg

from devices.errors import ConflictError, NotFoundError, ValidationFailed
from devices.mqtt_auth import (
    BrokerNotRunning,
    connack,
    hash_password,
    new_secret,
    signal_reload,
    write_password_file,
)
from devices.settings import MqttSettings

_SYNC_LOCK = 7_245_001
_BATCH = 5000
RELOAD_CANARY = "svc-reload-canary"  # a one-off password per sync; no ACL entry, so it may do nothing
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    device_id: str
    username: str
    password: str  # shown once, never stored in clear


def _device(conn: psycopg.Connection, device_id: str) -> tuple[str, str | None, str]:
    row = conn.execute(
        "SELECT kind, gateway_id, status FROM device WHERE id = %s FOR UPDATE", (device_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no device {device_id!r}")
    return row[0], row[1], row[2]


def provision(conn: psycopg.Connection, *, device_id: str, broker: MqttSettings) -> Credentials:
    """Give a device (or gateway) its own broker account; a second call replaces the password."""
    with conn.transaction():
        _kind, gateway_id, _status = _device(conn, device_id)
        if gateway_id is not None:
            raise ValidationFailed(
                f"{device_id} is bridged by gateway {gateway_id}: provision the gateway, not the device",
                code="bridged_device",
            )
        password = new_secret()
        conn.execute(
            "UPDATE device SET status = 'provisioned', password_hash = %s, provisioned_at = now(), revoked_at = NULL "
            "WHERE id = %s",
            (hash_password(password), device_id),
        )
    sync_broker(conn, broker)
    return Credentials(device_id=device_id, username=device_id, password=password)


def revoke(conn: psycopg.Connection, *, device_id: str, broker: MqttSettings) -> None:
    """Remove a device's account; the broker drops its connection and refuses it from now on."""
    with conn.transaction():
        _kind, _gw, status = _device(conn, device_id)
        if status == "revoked":
            raise ConflictError(f"{device_id} is already revoked", code="already_revoked")
        conn.execute(
            "UPDATE device SET status = 'revoked', password_hash = NULL, revoked_at = now() WHERE id = %s",
            (device_id,),
        )
    sync_broker(conn, broker)


def provision_many(
    conn: psycopg.Connection, *, device_ids: list[str], broker: MqttSettings
) -> list[Credentials]:
    """Provision many devices with one broker reload (simulators register thousands of homes at once).

    The hashes (PBKDF2, most of the cost) are computed on every core (hashlib releases the GIL) and the rows
    are updated in batches, in one transaction.

    Raises:
        ValidationFailed: an id is unknown, bridged by a gateway, or given twice; nothing is changed.
    """
    if len(set(device_ids)) != len(device_ids):
        raise ValidationFailed("a device id is given twice", code="duplicate_device")
    passwords = [new_secret() for _ in device_ids]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        hashes = list(pool.map(hash_password, passwords, chunksize=256))
    with conn.transaction():
        for lo in range(0, len(device_ids), _BATCH):
            ids = device_ids[lo : lo + _BATCH]
            done = conn.execute(
                "UPDATE device d SET status = 'provisioned', password_hash = v.h, provisioned_at = now(), "
                "revoked_at = NULL FROM unnest(%s::text[], %s::text[]) AS v(id, h) "
                "WHERE d.id = v.id AND d.gateway_id IS NULL RETURNING d.id",
                (ids, hashes[lo : lo + _BATCH]),
            ).fetchall()
            if len(done) != len(ids):
                missing = sorted(set(ids) - {r[0] for r in done})
                raise ValidationFailed(f"cannot provision {missing[0]!r}: unknown or bridged by a gateway")
    sync_broker(conn, broker)
    return [Credentials(d, d, pw) for d, pw in zip(device_ids, passwords, strict=True)]


def sync_broker(conn: psycopg.Connection, broker: MqttSettings) -> int:
    """Rewrite the broker's password file from the database and make the broker reload it."""
    if broker.password_file is None or broker.base_password_file is None or broker.pid_file is None:
        raise ValidationFailed(
            "the broker's password file and pid file are not configured (ELDERCARE_MQTT_PASSWORD_FILE, "
            "ELDERCARE_MQTT_BASE_PASSWORD_FILE, ELDERCARE_MQTT_PID_FILE): provisioning needs a broker we manage",
            code="broker_not_managed",
        )
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SYNC_LOCK,))
        rows = conn.execute(
            "SELECT id, password_hash FROM device WHERE status = 'provisioned' AND password_hash IS NOT NULL"
        ).fetchall()
        canary = new_secret()
        accounts = {r[0]: r[1] for r in rows} | {RELOAD_CANARY: hash_password(canary)}
        write_password_file(broker.password_file, broker.base_password_file, accounts)
        signal_reload(broker.pid_file)
        _await_reload(broker, canary)
        for pid_file in other_brokers(broker.password_file):
            try:
                signal_reload(pid_file)
            except BrokerNotRunning:
                log.warning(
                    "edge broker %s is not running: it reads the new password file when started", pid_file
                )
    return len(rows)


def _await_reload(broker: MqttSettings, canary: str, timeout_s: float = 5.0) -> None:
    """SIGHUP is asynchronous: wait until the broker accepts this sync's one-off canary account, so that a device
    provisioned (or revoked) here is accepted (or cut off) as soon as we return, not a moment later."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if connack(broker.port, RELOAD_CANARY, canary, host=broker.host) == 0:
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            log.warning("the broker did not confirm the password reload within %.0f s", timeout_s)
            return
        time.sleep(0.02)


def other_brokers(password_file: Path) -> list[Path]:
    """Pid files of the other brokers (edge brokers) that read ``password_file``: listed one per line in
    ``<password_file>.brokers`` by ``eldercare stack up``; only running Mosquitto processes are returned."""
    listing = password_file.with_name(password_file.name + ".brokers")
    try:
        lines = listing.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [Path(line) for line in lines if line.strip() and _is_mosquitto(Path(line))]


def _is_mosquitto(pid_file: Path) -> bool:
    """A stale pid file must not make us signal whatever process now has that pid."""
    try:
        pid = int(pid_file.read_text().split()[0])
        return Path(f"/proc/{pid}/comm").read_text().strip() == "mosquitto"
    except (OSError, ValueError, IndexError):
        return False
