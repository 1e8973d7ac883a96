"""Mosquitto credential files: password hashes in Mosquitto 2's own format, and the ACL rules.

Hashes are PBKDF2-HMAC-SHA512 written as ``$7$<iterations>$<salt b64>$<hash b64>``, the format
``mosquitto_passwd`` writes, so the broker reads them and our database stores only the hash.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import signal
import socket
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from devices.accounts import BRIDGE_ACCOUNT, INGEST_ACCOUNT, OPS_ACCOUNT, is_reserved

ITERATIONS = 101
SALT_BYTES = 12
log = logging.getLogger(__name__)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        _, algo, iterations, salt_b64, _digest = encoded.split("$")
    except ValueError:
        return False
    if algo != "7":
        return False
    salt = base64.b64decode(salt_b64)
    return hmac.compare_digest(hash_password(password, salt=salt, iterations=int(iterations)), encoded)


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def password_lines(accounts: Iterable[tuple[str, str]]) -> str:
    """``user:hash`` lines for (username, hash) pairs."""
    return "".join(f"{user}:{hashed}\n" for user, hashed in accounts)


def read_password_file(path: Path) -> dict[str, str]:
    accounts: dict[str, str] = {}
    if not path.exists():
        return accounts
    for line in path.read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            user, hashed = line.split(":", 1)
            accounts[user] = hashed
    return accounts


# Platform service accounts and what they may do. Devices and gateways get the patterns: each may write
# only under its own id (%u is the username, which is the device id) and read only its own cmd topic.
SERVICE_ACL = {
    INGEST_ACCOUNT: [
        "topic read eldercare/v1/#",
        "topic write eldercare/v1/devices/+/cmd",
        # Ingest clears a retained event at the broker (an empty retained payload), so it is never redelivered.
        "topic write eldercare/v1/devices/+/event",
        "topic write eldercare/v1/gateways/+/z2m/#",
    ],
    OPS_ACCOUNT: ["topic readwrite eldercare/#", "topic read $SYS/#"],
    # Edge brokers' bridges to the core: forward what devices and gateways publish at an edge (the edge has
    # already checked their own %u rules) and bring commands back to them.
    BRIDGE_ACCOUNT: [
        "topic write eldercare/v1/devices/+/event",
        "topic write eldercare/v1/devices/+/status",
        "topic write eldercare/v1/gateways/+/z2m/#",
        "topic write eldercare/v1/bridge-probe/+",  # `stack status` checks each edge end to end
        "topic read eldercare/v1/devices/+/cmd",
        "topic read eldercare/v1/gateways/+/cmd",
    ],
}
DEVICE_PATTERNS = [
    "pattern write eldercare/v1/devices/%u/event",
    "pattern write eldercare/v1/devices/%u/status",
    "pattern read eldercare/v1/devices/%u/cmd",
    "pattern write eldercare/v1/gateways/%u/#",
    "pattern read eldercare/v1/gateways/%u/cmd",
]


def acl_text() -> str:
    lines = ["# written by eldercare: devices and gateways only under their own id", *DEVICE_PATTERNS, ""]
    for user, rules in SERVICE_ACL.items():
        lines += [f"user {user}", *rules, ""]
    return "\n".join(lines)


def password_file_text(service: Mapping[str, str], devices: Mapping[str, str]) -> str:
    """The password file: platform accounts first, then devices sorted by id, each username once.

    A device whose name is reserved (``svc-*``) or already taken is skipped and logged, never written: the
    registry refuses such ids, so one here means a row that bypassed it, and writing it would hand that row
    a platform account (Mosquitto keeps the last line of a duplicated username).
    """
    lines = dict(service)
    for user, hashed in sorted(devices.items()):
        if is_reserved(user) or user in lines:
            log.error("password file: device account %r skipped (a reserved or platform account name)", user)
            continue
        lines[user] = hashed
    return password_lines(lines.items())


def write_password_file(
    passwd: Path,
    base_passwd: Path,
    device_hashes: Mapping[str, str],
    *,
    extra: Mapping[str, str] | None = None,
) -> None:
    """Write the service accounts of ``base_passwd`` (plus ``extra`` platform accounts such as the reload
    canary) and the device accounts to ``passwd``, atomically, keeping the file's owner (the broker's)."""
    service = read_password_file(base_passwd) | dict(extra or {})
    write_atomic(passwd, password_file_text(service, device_hashes))


def write_atomic(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` all at once: a temp file in the same directory, fsync, rename, fsync the
    directory. A reader (the broker reloading) sees the old file or the new one, never half of one; the new
    file keeps the old one's owner so that an unprivileged broker can still read it."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            with contextlib.suppress(FileNotFoundError):
                st = path.stat()
                if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class BrokerNotRunning(Exception):
    """The broker whose files we manage is not running, so it cannot be told to reload."""


def signal_reload(pid_file: Path) -> None:
    """SIGHUP: Mosquitto re-reads password and ACL files and disconnects clients no longer allowed."""
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError, IndexError) as exc:
        raise BrokerNotRunning(f"no running mosquitto (pid file {pid_file}): {exc}") from exc


def connect_packet(username: str | None, password: str | None) -> bytes:
    """A bare MQTT 3.1.1 CONNECT (clean session, keepalive 10 s)."""

    def field(s: str) -> bytes:
        raw = s.encode()
        return len(raw).to_bytes(2, "big") + raw

    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    var = field("MQTT") + bytes([4, flags]) + (10).to_bytes(2, "big")
    payload = field(f"eldercare-probe-{os.getpid()}-{time.monotonic_ns() % 100000}")
    if username is not None:
        payload += field(username)
    if password is not None:
        payload += field(password)
    body = var + payload
    return bytes([0x10]) + remaining_length(len(body)) + body


def connack(
    port: int, username: str | None, password: str | None, host: str = "127.0.0.1", *, timeout: float = 3.0
) -> int:
    """Send a bare MQTT 3.1.1 CONNECT and return the CONNACK code (0 = accepted, 5 = not authorised)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(connect_packet(username, password))
        reply = s.recv(4)
    if len(reply) < 4 or reply[0] != 0x20:
        return -1
    return reply[3]


def remaining_length(n: int) -> bytes:
    """MQTT's variable byte integer (remaining length, property lengths): 7 bits per byte, high bit = more."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"varint out of range: {n}")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)
