"""Edge brokers: more Mosquitto processes on loopback, bridged to the core broker (one process holds ~20,000 sockets)."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from web.stack import mosquitto
from web.stack.mosquitto import MqttPaths
from web.stack.proc import check_port_free, chown_tree, stop_pid

BRIDGE_ACCOUNT = "svc-bridge"
# Devices and gateways publish these at an edge (exactly what ingest subscribes to at the core) ...
UPLINK = ("eldercare/v1/devices/+/event", "eldercare/v1/devices/+/status", "eldercare/v1/gateways/+/z2m/#")
PROBE = "eldercare/v1/bridge-probe"  # + the edge's name: a health probe forwarded like a reading, not stored
# ... and read these, published by the platform at the core.
DOWNLINK = ("eldercare/v1/devices/+/cmd", "eldercare/v1/gateways/+/cmd")
READERS_SUFFIX = ".brokers"  # ``passwd.brokers``: pid files of the other brokers reading ``passwd``


@dataclass(frozen=True)
class Edge:
    """One edge broker of a stack: its number (1..N), port and files."""

    index: int
    port: int
    paths: MqttPaths

    @property
    def name(self) -> str:
        return f"edge-{self.index}"

    @property
    def bridge_client_id(self) -> str:
        return f"eldercare-{self.name}"

    @property
    def state_topic(self) -> str:
        return f"$SYS/broker/connection/{self.bridge_client_id}/state"


def edges(root: Path, ports: list[int]) -> list[Edge]:
    """The edge brokers of the stack in ``root``, one per port."""
    return [Edge(i, port, MqttPaths(root / f"mqtt-edge-{i}")) for i, port in enumerate(ports, start=1)]


def readers_file(core: MqttPaths) -> Path:
    """The file listing the edges' pid files: provisioning signals them too after rewriting ``passwd``."""
    return core.passwd.with_name(core.passwd.name + READERS_SUFFIX)


def write_readers(core: MqttPaths, running: list[Edge]) -> None:
    readers_file(core).write_text("".join(f"{e.paths.pid}\n" for e in running))


def write_config(
    edge: Edge, *, core: MqttPaths, core_port: int, bridge_password: str, user: str | None
) -> None:
    """The core's settings on the edge's port with the core's password and ACL files, plus a persistent
    bridge (cleansession false, QoS 1 both ways) to the core as the bridge service account."""
    edge.paths.data.mkdir(parents=True, exist_ok=True)
    topics = [f"topic {t} out 1" for t in (*UPLINK, f"{PROBE}/+")] + [f"topic {t} in 1" for t in DOWNLINK]
    bridge = [
        f"connection {edge.bridge_client_id}",
        f"address 127.0.0.1:{core_port}",
        "bridge_protocol_version mqttv311",
        f"remote_clientid {edge.bridge_client_id}",
        f"remote_username {BRIDGE_ACCOUNT}",
        f"remote_password {bridge_password}",
        "cleansession false",
        "local_cleansession false",
        "restart_timeout 1 10",
        "keepalive_interval 30",
        "notifications true",
        "notifications_local_only true",
        f"notification_topic {edge.state_topic}",
        *topics,
    ]
    text = mosquitto.broker_conf(edge.paths, port=edge.port, passwd=core.passwd, acl=core.acl)
    edge.paths.conf.touch(mode=0o600, exist_ok=True)
    edge.paths.conf.chmod(0o600)  # it holds the bridge's password
    edge.paths.conf.write_text(text + "\n".join(bridge) + "\n")
    chown_tree(edge.paths.root, user)


def start_all(
    wanted: list[Edge], *, core: MqttPaths, core_port: int, bridge_password: str, user: str | None
) -> list[str]:
    """Start the edges not running yet (after the core); return the names started."""
    started: list[str] = []
    try:
        for edge in wanted:
            if mosquitto.running_pid(edge.paths) is not None:
                continue
            check_port_free(edge.port)
            write_config(edge, core=core, core_port=core_port, bridge_password=bridge_password, user=user)
            mosquitto.start(edge.paths, port=edge.port, user=user)
            started.append(edge.name)
    except BaseException:
        stop_all([e for e in wanted if e.name in started])
        raise
    write_readers(core, wanted)
    return started


def stop_all(running: list[Edge]) -> list[str]:
    """Stop these edges (each saves its queue for the core on the way down); return the names stopped."""
    stopped = []
    for edge in running:
        pid = mosquitto.running_pid(edge.paths)
        if pid is not None:
            stop_pid(pid)
            stopped.append(edge.name)
    return stopped


def health(edge: Edge, *, core_port: int, ops_user: str, ops_password: str) -> str:
    """``ok: ...`` when the edge authenticates and a QoS 1 probe published there reaches the core, else why not.

    The probe goes the way readings go: a bridge can be connected and still not forward QoS 1 messages
    (seen with Mosquitto 2.0.11 after restarts with a large queue), so its retained state is not enough.
    """
    if mosquitto.running_pid(edge.paths) is None:
        return "stopped"
    try:
        ok = mosquitto.connack(edge.port, ops_user, ops_password)
        wrong = mosquitto.connack(edge.port, ops_user, "wrong-" + os.urandom(4).hex())
        if ok != 0 or wrong == 0:
            return (
                f"error: authentication broken (service account CONNACK {ok}, wrong password CONNACK {wrong})"
            )
        took = bridge_probe(edge, core_port=core_port, user=ops_user, password=ops_password)
    except OSError as exc:  # ConnectionError (a refused CONNACK too) is one
        return f"error: unreachable ({exc})"
    if took is None:
        return (
            "error: a QoS 1 probe published at the edge did not reach the core in 5 s (bridge down or stuck)"
        )
    return f"ok: auth on, bridged to the core (probe {took * 1000:.0f} ms)"


def bridge_probe(
    edge: Edge, *, core_port: int, user: str, password: str, timeout: float = 5.0
) -> float | None:
    """Seconds a QoS 1 message published at the edge took to reach a subscriber at the core (None: never)."""
    topic = f"{PROBE}/{edge.name}".encode()
    nonce = os.urandom(8).hex().encode()
    with (
        _session(core_port, user, password, timeout) as core,
        _session(edge.port, user, password, timeout) as e,
    ):
        body = (1).to_bytes(2, "big") + len(topic).to_bytes(2, "big") + topic + b"\x00"
        core.sendall(bytes([0x82]) + mosquitto.remaining_length(len(body)) + body)
        if _read_packet(core)[0] >> 4 != 9:
            return None  # no SUBACK
        began = time.monotonic()
        body = len(topic).to_bytes(2, "big") + topic + (1).to_bytes(2, "big") + nonce
        e.sendall(bytes([0x32]) + mosquitto.remaining_length(len(body)) + body)
        with contextlib.suppress(TimeoutError):
            while time.monotonic() < began + timeout:
                kind, data = _read_packet(core)
                if kind >> 4 == 3 and data.endswith(nonce):
                    return time.monotonic() - began
    return None


@contextlib.contextmanager
def _session(port: int, user: str, password: str, timeout: float) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(mosquitto.connect_packet(user, password))
        if _read_packet(s)[1][1:2] != b"\x00":
            raise ConnectionError(f"CONNACK refused on port {port}")
        yield s


def _read_packet(s: socket.socket) -> tuple[int, bytes]:
    head = _read_exact(s, 1)[0]
    length, shift = 0, 0
    while True:
        byte = _read_exact(s, 1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return head, _read_exact(s, length)


def _read_exact(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        out += chunk
    return out


def cpu_seconds(pid_file: Path) -> float | None:
    """CPU seconds a broker has used so far (None when it is not running)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pid_file.read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def open_file_limit(pid_file: Path) -> int | None:
    """A running broker's open-file limit (the most connections it can hold), from /proc."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pid_file.read_text().split()[0])
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


@dataclass(frozen=True)
class Listener:
    """A broker a load run may connect devices to."""

    name: str
    host: str
    port: int
    pid_file: Path | None


def load_listeners(core: Listener, configured: list[Edge], choice: str) -> list[Listener]:
    """Where simulated devices connect: ``core``, ``edges`` (the running ones) or ``auto`` (edges if any run).

    Raises:
        ValueError: an unknown choice, or ``edges`` when no edge broker is running.
    """
    if choice not in ("auto", "core", "edges"):
        raise ValueError(f"unknown broker choice {choice!r}: want auto, core or edges")
    running = [
        Listener(e.name, "127.0.0.1", e.port, e.paths.pid)
        for e in configured
        if mosquitto.running_pid(e.paths) is not None
    ]
    if choice == "edges" and not running:
        raise ValueError("no edge broker is running: `eldercare stack up --edge-brokers N` first")
    return running if running and choice != "core" else [core]
