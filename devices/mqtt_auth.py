"""Mosquitto credential files: password hashes in Mosquitto 2's own format, and the ACL rules.

Hashes are PBKDF2-HMAC-SHA512 written as ``$7$<iterations>$<salt b64>$<hash b64>``, the format
``mosquitto_passwd`` writes, so the broker reads them and our database stores only the hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import signal
import socket
import time
from collections.abc import Iterable
from pathlib import Path

ITERATIONS = 101
SALT_BYTES = 12


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
    "svc-ingest": ["topic read eldercare/v1/#", "topic write eldercare/v1/devices/+/cmd"],
    "svc-ops": ["topic readwrite eldercare/#", "topic read $SYS/#"],
    # Edge brokers' bridges to the core: forward what devices and gateways publish at an edge (the edge has
    # already checked their own %u rules) and bring commands back to them.
    "svc-bridge": [
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


def write_password_file(passwd: Path, base_passwd: Path, device_hashes: dict[str, str]) -> None:
    """Atomically write service accounts + device accounts, keeping the file's owner (the broker's account)."""
    text = base_passwd.read_text() + password_lines(sorted(device_hashes.items()))
    tmp = passwd.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    if passwd.exists():
        st = passwd.stat()
        os.chown(tmp, st.st_uid, st.st_gid)
    tmp.replace(passwd)


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


def connack(port: int, username: str | None, password: str | None, host: str = "127.0.0.1") -> int:
    """Send a bare MQTT 3.1.1 CONNECT and return the CONNACK code (0 = accepted, 5 = not authorised)."""
    with socket.create_connection((host, port), timeout=3) as s:
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
