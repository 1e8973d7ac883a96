"""Broker credentials per device: provision (password shown once, stored only hashed) and revoke (cut off at once).

The database is the source of truth; the broker's password file is regenerated from it and Mosquitto (the core
and every edge broker reading the same file) is told to reload (SIGHUP), which also disconnects clients whose
account is gone.

Every change fails closed. It runs in one transaction that first takes an advisory lock (two changes never
write the file out of order), updates the rows, writes the file from what that transaction sees, signals the
broker and waits until the broker accepts a one-off canary account written into that same file; only then does
it commit. If the broker does not take the file within the timeout (stopped, hung, gone), the transaction rolls
back, the file is rewritten from the rolled-back database and the call raises :class:`BrokerUnavailable`: the
device keeps its previous status and password, and no caller is told about credentials the broker never had.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psycopg

from devices.accounts import RELOAD_CANARY, check_not_reserved
from devices.errors import ConflictError, NotFoundError, Unavailable, ValidationFailed
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
# How long a change waits for the broker to take the new file before it is rolled back: generous, because a
# false failure rolls back a good change; the margin is for a broker busy with many connections on a shared core.
RELOAD_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)
T = TypeVar("T")


class BrokerUnavailable(Unavailable):
    """The broker did not take the new password file in time: the change was rolled back."""

    code = "broker_unavailable"


@dataclass(frozen=True)
class Credentials:
    device_id: str
    username: str
    password: str  # shown once, never stored in clear


@dataclass(frozen=True)
class _BrokerFiles:
    passwd: Path
    base: Path
    pid: Path


def _device(conn: psycopg.Connection, device_id: str) -> tuple[str, str | None, str]:
    row = conn.execute(
        "SELECT kind, gateway_id, status FROM device WHERE id = %s FOR UPDATE", (device_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no device {device_id!r}")
    return row[0], row[1], row[2]


def provision(
    conn: psycopg.Connection, *, device_id: str, broker: MqttSettings, reload_timeout_s: float | None = None
) -> Credentials:
    """Give a device (or gateway) its own broker account; a second call replaces the password.

    Raises:
        NotFoundError: no such device.
        ValidationFailed: the device is bridged by a gateway, or its id is reserved (``svc-*``).
        BrokerUnavailable: the broker did not take the new account in time; nothing was changed.
    """
    check_not_reserved(device_id, what="device id")
    password = new_secret()

    def change() -> Credentials:
        _kind, gateway_id, _status = _device(conn, device_id)
        if gateway_id is not None:
            raise ValidationFailed(
                f"{device_id} is bridged by gateway {gateway_id}: provision the gateway, not the device",
                code="bridged_device",
            )
        conn.execute(
            "UPDATE device SET status = 'provisioned', password_hash = %s, provisioned_at = now(), revoked_at = NULL "
            "WHERE id = %s",
            (hash_password(password), device_id),
        )
        return Credentials(device_id=device_id, username=device_id, password=password)

    return _apply(conn, broker, change, reload_timeout_s)


def revoke(
    conn: psycopg.Connection, *, device_id: str, broker: MqttSettings, reload_timeout_s: float | None = None
) -> None:
    """Remove a device's account; the broker drops its connection and refuses it from now on.

    What is verified: the broker has reloaded a password file without the account (it accepts the canary
    written into that same file). A refused CONNECT with the device's name would prove nothing more, since
    we do not know its password and a wrong password is refused anyway.

    Raises:
        NotFoundError: no such device.
        ConflictError: already revoked.
        BrokerUnavailable: the broker did not take the change in time; the device keeps its account.
    """

    def change() -> None:
        _kind, _gw, status = _device(conn, device_id)
        if status == "revoked":
            raise ConflictError(f"{device_id} is already revoked", code="already_revoked")
        conn.execute(
            "UPDATE device SET status = 'revoked', password_hash = NULL, revoked_at = now() WHERE id = %s",
            (device_id,),
        )

    _apply(conn, broker, change, reload_timeout_s)


def provision_many(
    conn: psycopg.Connection,
    *,
    device_ids: list[str],
    broker: MqttSettings,
    reload_timeout_s: float | None = None,
) -> list[Credentials]:
    """Provision many devices with one broker reload (simulators register thousands of homes at once).

    The hashes (PBKDF2, most of the cost) are computed on every core (hashlib releases the GIL) and the rows
    are updated in batches, in one transaction.

    Raises:
        ValidationFailed: an id is unknown, bridged by a gateway, reserved or given twice; nothing is changed.
        BrokerUnavailable: the broker did not take the new accounts in time; nothing was changed.
    """
    if len(set(device_ids)) != len(device_ids):
        raise ValidationFailed("a device id is given twice", code="duplicate_device")
    for device_id in device_ids:
        check_not_reserved(device_id, what="device id")
    passwords = [new_secret() for _ in device_ids]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        hashes = list(pool.map(hash_password, passwords, chunksize=256))

    def change() -> list[Credentials]:
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
        return [Credentials(d, d, pw) for d, pw in zip(device_ids, passwords, strict=True)]

    return _apply(conn, broker, change, reload_timeout_s)


def sync_broker(conn: psycopg.Connection, broker: MqttSettings, reload_timeout_s: float | None = None) -> int:
    """Rewrite the broker's password file from the database, make the broker reload it and wait until it has.

    Returns:
        The number of device accounts in the file.
    """
    return _apply(conn, broker, lambda: len(_device_accounts(conn)), reload_timeout_s)


def _files(broker: MqttSettings) -> _BrokerFiles:
    if broker.password_file is None or broker.base_password_file is None or broker.pid_file is None:
        raise ValidationFailed(
            "the broker's password file and pid file are not configured (ELDERCARE_MQTT_PASSWORD_FILE, "
            "ELDERCARE_MQTT_BASE_PASSWORD_FILE, ELDERCARE_MQTT_PID_FILE): provisioning needs a broker we manage",
            code="broker_not_managed",
        )
    return _BrokerFiles(broker.password_file, broker.base_password_file, broker.pid_file)


def _apply(
    conn: psycopg.Connection, broker: MqttSettings, change: Callable[[], T], timeout_s: float | None
) -> T:
    """Run ``change`` and hand the result to the broker in one transaction, committed only once the broker
    confirmed; on any failure after the file was written, rewrite it from the rolled-back database."""
    files = _files(broker)
    written = False
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SYNC_LOCK,))
            result = change()
            written = True
            _write_and_reload(conn, broker, files, RELOAD_TIMEOUT_S if timeout_s is None else timeout_s)
    except BaseException:
        if written:
            _restore(conn, files)
        raise
    return result


def _device_accounts(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute(
        "SELECT id, password_hash FROM device WHERE status = 'provisioned' AND password_hash IS NOT NULL"
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def _write_and_reload(
    conn: psycopg.Connection, broker: MqttSettings, files: _BrokerFiles, timeout_s: float
) -> None:
    canary = new_secret()
    write_password_file(
        files.passwd, files.base, _device_accounts(conn), extra={RELOAD_CANARY: hash_password(canary)}
    )
    try:
        signal_reload(files.pid)
    except BrokerNotRunning as exc:
        raise BrokerUnavailable(f"the broker cannot be told to reload: {exc}; nothing was changed") from exc
    _await_reload(broker, canary, timeout_s)
    for pid_file in other_brokers(files.passwd):
        try:
            signal_reload(pid_file)
        except BrokerNotRunning:
            log.warning(
                "edge broker %s is not running: it reads the new password file when started", pid_file
            )


def _restore(conn: psycopg.Connection, files: _BrokerFiles) -> None:
    """After a rolled-back change: the file again as the database says (no canary), and the brokers told.

    A stopped broker gets the SIGHUP when it resumes and reads this file, never the rolled-back one. If the
    database cannot be read either, the file keeps the change until the next successful sync rewrites it."""
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SYNC_LOCK,))
            write_password_file(files.passwd, files.base, _device_accounts(conn))
    except Exception:
        log.exception("could not restore the broker's password file from the database")
        return
    for pid_file in (files.pid, *other_brokers(files.passwd)):
        with contextlib.suppress(BrokerNotRunning):
            signal_reload(pid_file)


def _await_reload(broker: MqttSettings, canary: str, timeout_s: float) -> None:
    """SIGHUP is asynchronous: wait until the broker accepts this sync's one-off canary account, so that a device
    provisioned (or revoked) here is accepted (or cut off) as soon as we return, not a moment later.

    Raises:
        BrokerUnavailable: the canary was not accepted within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        try:
            code = connack(
                broker.port, RELOAD_CANARY, canary, host=broker.host, timeout=max(0.05, min(1.0, remaining))
            )
            if code == 0:
                return
            last = f"CONNACK {code}"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if time.monotonic() >= deadline:
            raise BrokerUnavailable(
                f"the broker did not take the new password file within {timeout_s:g} s (last probe: {last}); "
                "nothing was changed, retry when `eldercare stack status` is healthy / 消息服务器未及时生效，未做任何更改"
            )
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
