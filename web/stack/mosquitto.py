"""A private Mosquitto 2 broker: generated config, password and ACL files, persistence, loopback only."""

from __future__ import annotations

import contextlib
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devices.accounts import is_reserved
from devices.mqtt_auth import (  # the probes live with the credentials they check; re-exported here
    acl_text,
    connack,
    connect_packet,
    hash_password,
    password_lines,
    read_password_file,
    remaining_length,
    write_atomic,
    write_password_file,
)
from web.stack.proc import StackError, chown_tree, pid_alive, port_open, read_pid

__all__ = ["connack", "connect_packet", "remaining_length"]

FD_LIMIT = 1 << 20  # fs.nr_open's default
# Size limits (docs/operations.md, "Size limits and reserved names"). A packet above MAX_PACKET_BYTES (the whole
# MQTT packet: header, topic, properties, payload) makes the broker disconnect the client and drop the packet,
# for every protocol version; v5 clients are told the limit in CONNACK. `message_size_limit` is not used: it
# counts the payload only and completes the QoS flow of a refused message, so the device never learns.
MAX_PACKET_BYTES = 256 * 1024
# What the broker may queue for one persistent session (ingest, rules, a bridge) while it is away: the payload
# bytes of ~1.3 M readings of ~200 B, about 1.8 h of a 20,000-home district's average rate. Past it Mosquitto
# drops newly queued QoS 1 messages for that session, so one stuck subscriber cannot take the broker's memory.
MAX_QUEUED_BYTES = 256 * 1024 * 1024
MAX_QUEUED_MESSAGES = 5_000_000


@dataclass(frozen=True)
class MqttPaths:
    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def passwd(self) -> Path:
        return self.root / "passwd"

    @property
    def base_passwd(self) -> Path:
        """Service accounts; the device accounts are appended to these to make ``passwd``."""
        return self.root / "passwd.base"

    @property
    def acl(self) -> Path:
        return self.root / "acl"

    @property
    def pid(self) -> Path:
        return self.root / "mosquitto.pid"

    @property
    def log(self) -> Path:
        return self.root / "mosquitto.log"

    @property
    def data(self) -> Path:
        return self.root / "data"


def binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if not found:
        raise StackError("mosquitto not found: run `bash scripts/install-system-deps.sh` first")
    return found


def broker_conf(paths: MqttPaths, *, port: int, passwd: Path, acl: Path) -> str:
    """The broker settings shared by the core and the edge brokers (which use the core's passwd and acl)."""
    # Measured on Mosquitto 2.0.11 (DESIGN §3): the default queue of 1000 drops acknowledged QoS 1 messages
    # when a subscriber falls behind, and 0 stalls; so a large explicit queue, bounded in bytes.
    return f"""# written by eldercare stack
per_listener_settings false
listener {port} 127.0.0.1
allow_anonymous false
password_file {passwd}
acl_file {acl}
persistence true
persistence_location {paths.data}/
autosave_interval 30
max_queued_messages {MAX_QUEUED_MESSAGES}
max_queued_bytes {MAX_QUEUED_BYTES}
max_inflight_messages 1000
max_packet_size {MAX_PACKET_BYTES}
max_connections -1
set_tcp_nodelay true
pid_file {paths.pid}
log_dest stderr
log_type error
log_type warning
log_type notice
connection_messages false
"""


def write_config(paths: MqttPaths, *, port: int, service_passwords: dict[str, str], user: str | None) -> None:
    """(Re)write config, ACL and the service accounts; device accounts already in ``passwd`` are kept."""
    paths.data.mkdir(parents=True, exist_ok=True)
    paths.conf.write_text(broker_conf(paths, port=port, passwd=paths.passwd, acl=paths.acl))
    base = {user_: hash_password(pw) for user_, pw in service_passwords.items()}
    write_atomic(paths.base_passwd, password_lines(base.items()))
    write_atomic(paths.acl, acl_text())
    # Device lines are kept; the platform's (svc-*: old service hashes, the last reload canary) are not.
    devices = {u: h for u, h in read_password_file(paths.passwd).items() if not is_reserved(u)}
    write_password_file(paths.passwd, paths.base_passwd, devices)
    for p in (paths.base_passwd, paths.passwd, paths.acl):
        p.chmod(0o600)
    chown_tree(paths.root, user)


def running_pid(paths: MqttPaths) -> int | None:
    pid = read_pid(paths.pid)
    return pid if pid is not None and pid_alive(pid) else None


def start(paths: MqttPaths, *, port: int, user: str | None) -> int:
    with paths.log.open("ab") as log:
        proc = subprocess.Popen(
            [binary(), "-c", str(paths.conf)], user=user, cwd=paths.root, stdout=log, stderr=log,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    raise_fd_limit(proc.pid)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = paths.log.read_text(errors="replace").strip().splitlines()[-2:]
            raise StackError("mosquitto did not start: " + " | ".join(tail))
        if port_open(port):
            return proc.pid
        time.sleep(0.05)
    proc.kill()
    raise StackError(f"mosquitto did not open port {port} within 15 s")


def raise_fd_limit(pid: int, limit: int = FD_LIMIT) -> None:
    """Let the broker hold ``limit`` sockets (simulated neighbourhoods of 20,000 homes hold ~100,000
    connections); the inherited limit is often 1,024 or 20,000. Needs root (CAP_SYS_RESOURCE), else a no-op."""
    with contextlib.suppress(OSError, ValueError):
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
