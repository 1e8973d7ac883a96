"""A lean QoS 1 MQTT v5 load publisher over raw sockets (stdlib only): many device connections, one thread."""

from __future__ import annotations

import selectors
import socket
import struct
import time
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field

from devices import topics
from devices.errors import EldercareError
from devices.mqtt_auth import remaining_length

CONNACK, PUBLISH, PUBACK, PINGRESP, DISCONNECT = 0x20, 0x30, 0x40, 0xD0, 0xE0
MAX_PACKET_ID = 65_535
# MQTT v5 property id -> value size (>0 fixed bytes; 0 UTF-8 string or binary; -1 string pair; -2 varint).
_PROP_SIZES = {0x01: 1, 0x02: 4, 0x03: 0, 0x08: 0, 0x09: 0, 0x0B: -2, 0x11: 4, 0x12: 0, 0x13: 2, 0x15: 0,
               0x16: 0, 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: 0, 0x1C: 0, 0x1F: 0, 0x21: 2, 0x22: 2, 0x23: 2,
               0x24: 1, 0x25: 1, 0x26: -1, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1}  # fmt: skip

PayloadFn = Callable[[int, float], bytes]  # (seq, sent_at wall-clock seconds) -> payload


class LoadPubError(EldercareError):
    """The broker refused a connection, closed it, or sent something this publisher does not speak."""


encode_varint = remaining_length  # one encoder for every MQTT packet the platform writes


def decode_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(value, position after it), or None when ``buf`` ends inside the integer."""
    value, mult = 0, 1
    for i in range(pos, min(pos + 4, len(buf))):
        value += (buf[i] & 0x7F) * mult
        if not buf[i] & 0x80:
            return value, i + 1
        mult *= 128
    if len(buf) >= pos + 4:
        raise LoadPubError("malformed remaining length")
    return None


def _utf8(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def encode_connect(*, client_id: str, username: str, password: str, keepalive: int = 60) -> bytes:
    """CONNECT, MQTT v5, clean start, no session kept, no will."""
    flags = 0x80 | 0x40 | 0x02  # username, password, clean start
    body = _utf8("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive) + b"\x00"  # no properties
    body += _utf8(client_id) + _utf8(username) + _utf8(password)
    return bytes([0x10]) + encode_varint(len(body)) + body


def publish_header(topic: str) -> bytes:
    """The part of a QoS 1 PUBLISH after the remaining length that does not change: the topic."""
    return _utf8(topic)


def encode_publish(topic_field: bytes, packet_id: int, payload: bytes, qos: int = 1) -> bytes:
    """A QoS 1 (or 0: no packet id) PUBLISH, no DUP, no retain, empty v5 properties; topic from publish_header."""
    if qos == 0:
        return b"".join(
            (b"\x30", encode_varint(len(topic_field) + 1 + len(payload)), topic_field, b"\x00", payload)
        )
    remaining = len(topic_field) + 3 + len(payload)
    return b"".join(
        (b"\x32", encode_varint(remaining), topic_field, packet_id.to_bytes(2, "big"), b"\x00", payload)
    )


@dataclass(frozen=True, slots=True)
class Connack:
    session_present: bool
    reason_code: int
    receive_maximum: int  # 65,535 when the server sends none (MQTT v5 §3.2.2.3.3)


def _properties(body: bytes, pos: int) -> dict[int, int | bytes]:
    got = decode_varint(body, pos)
    if got is None:
        raise LoadPubError("truncated properties")
    length, pos = got
    end = pos + length
    props: dict[int, int | bytes] = {}
    while pos < end:
        pid, pos = body[pos], pos + 1
        size = _PROP_SIZES.get(pid)
        if size is None:
            raise LoadPubError(f"unknown property 0x{pid:02x}")
        if size > 0:
            props[pid], pos = int.from_bytes(body[pos : pos + size], "big"), pos + size
        elif size == -2:
            got = decode_varint(body, pos)
            if got is None:
                raise LoadPubError("truncated property")
            props[pid], pos = got
        else:
            for _ in range(1 if size == 0 else 2):
                n = int.from_bytes(body[pos : pos + 2], "big")
                props[pid], pos = body[pos + 2 : pos + 2 + n], pos + 2 + n
    return props


def decode_connack(body: bytes) -> Connack:
    """The variable header of a v5 CONNACK (the bytes after its remaining length)."""
    if len(body) < 2:
        raise LoadPubError("truncated CONNACK")
    props = _properties(body, 2) if len(body) > 2 else {}
    recv_max = props.get(0x21, MAX_PACKET_ID)
    return Connack(bool(body[0] & 1), body[1], recv_max if isinstance(recv_max, int) else MAX_PACKET_ID)


def decode_puback(body: bytes) -> tuple[int, int]:
    """(packet id, reason code) of a v5 PUBACK; a 2-byte body means success (0)."""
    if len(body) < 2:
        raise LoadPubError("truncated PUBACK")
    return int.from_bytes(body[:2], "big"), body[2] if len(body) > 2 else 0


def free_packet_id(start: int, inflight: Container[int]) -> int:
    """The first packet id from ``start`` (1..65,535, wrapping) that is not in flight."""
    pid = start
    while pid in inflight:
        pid = pid % MAX_PACKET_ID + 1
    return pid


def split_packets(buf: bytearray) -> list[tuple[int, bytes]]:
    """Remove the complete packets from the front of ``buf``: [(first byte, body)]; a partial one stays."""
    out, pos = [], 0
    while pos + 2 <= len(buf):
        got = decode_varint(buf, pos + 1)
        if got is None or got[1] + got[0] > len(buf):
            break
        length, start = got
        out.append((buf[pos], bytes(buf[start : start + length])))
        pos = start + length
    del buf[:pos]
    return out


def native_motion_payload(device_id: str, size: int = 200) -> PayloadFn:
    """Native motion readings (DESIGN §3) padded to about ``size`` bytes, with ``sent_at`` for latency."""
    ts_cache: dict[int, str] = {}

    def make(seq: int, sent_at: float) -> bytes:
        sec = int(sent_at)
        stamp = ts_cache.get(sec)
        if stamp is None:
            ts_cache.clear()
            stamp = ts_cache[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        ms = int((sent_at - sec) * 1000)
        head = f'{{"ts":"{stamp}.{ms:03d}Z","seq":{seq},"kind":"motion","values":{{"occupancy":'
        tail = f'{"true" if seq % 2 == 0 else "false"},"battery":87,"sent_at":{sent_at!r},"pad":"'
        body = head + tail
        return (body + "x" * max(0, size - len(body) - 3) + '"}}').encode()

    del device_id  # same shape for every device; kept for callers that vary payloads per device
    return make


@dataclass(frozen=True)
class Device:
    device_id: str
    password: str  # the device's own provisioned credentials (username = device id)


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    count: int  # messages per device
    seq_start: int = 1
    rate: float = 0.0  # messages per second per device; 0 = as fast as the window allows
    max_inflight: int = 1000  # capped by the broker's Receive Maximum
    payload_bytes: int = 200
    timeout_s: float = 300.0
    keepalive_s: int = 60
    qos: int = 1  # 0: fire and forget (counted as acknowledged once written)


@dataclass
class LoadResult:
    sent: int = 0
    acked: int = 0
    refused: int = 0  # PUBACK with a failure reason code (e.g. 0x87 not authorized)
    elapsed_s: float = 0.0
    ack_ms: list[float] = field(default_factory=list)  # publish -> PUBACK, per message

    def percentile(self, q: float) -> float | None:
        """The q-quantile (0..1) of the PUBACK latencies in ms, None without samples."""
        if not self.ack_ms:
            return None
        s = sorted(self.ack_ms)
        return s[min(len(s) - 1, max(0, int(len(s) * q + 0.5) - 1))]


class _Conn:
    def __init__(self, dev: Device, spec: LoadSpec, payload: PayloadFn) -> None:
        self.dev, self.spec, self.payload = dev, spec, payload
        self.topic = publish_header(topics.device_event(dev.device_id))
        self.sock = socket.create_connection((spec.host, spec.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(encode_connect(client_id=f"loadpub-{dev.device_id}", username=dev.device_id,
                                         password=dev.password, keepalive=spec.keepalive_s))  # fmt: skip
        self.inbuf, self.out = bytearray(), bytearray()
        ack = self._connack()
        if ack.reason_code >= 0x80:
            raise LoadPubError(
                f"{dev.device_id}: broker refused the connection (reason 0x{ack.reason_code:02x})"
            )
        self.window = max(1, min(spec.max_inflight, ack.receive_maximum))
        self.sock.setblocking(False)
        self.inflight: dict[int, float] = {}
        self.next_id, self.sent, self.last_out = 1, 0, time.monotonic()

    def _connack(self) -> Connack:
        while True:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise LoadPubError(f"{self.dev.device_id}: connection closed before CONNACK")
            self.inbuf += chunk
            for first, body in split_packets(self.inbuf):
                if first & 0xF0 == CONNACK:
                    return decode_connack(body)

    @property
    def done(self) -> bool:
        return self.sent >= self.spec.count and not self.inflight and not self.out

    def fill(self, due: int) -> None:
        """Queue PUBLISH packets up to the window, the rate schedule (``due`` sent by now) and the count."""
        n = min(self.window - len(self.inflight), due - self.sent, self.spec.count - self.sent)
        if n <= 0 or (self.spec.qos == 0 and self.out):
            return
        parts, now, wall, qos = [], time.perf_counter(), time.time(), self.spec.qos
        for _ in range(n):
            pid = 0
            if qos:
                pid = free_packet_id(self.next_id, self.inflight)
                self.next_id = pid % MAX_PACKET_ID + 1
                self.inflight[pid] = now
            parts.append(
                encode_publish(self.topic, pid, self.payload(self.spec.seq_start + self.sent, wall), qos)
            )
            self.sent += 1
        self.out += b"".join(parts)

    def flush(self) -> None:
        if self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return
            del self.out[:n]
            self.last_out = time.monotonic()
        elif time.monotonic() - self.last_out > self.spec.keepalive_s / 2:
            self.out += b"\xc0\x00"  # PINGREQ

    def read(self, result: LoadResult) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise LoadPubError(f"{self.dev.device_id}: broker closed the connection")
        self.inbuf += chunk
        now = time.perf_counter()
        for first, body in split_packets(self.inbuf):
            kind = first & 0xF0
            if kind == PUBACK:
                pid, reason = decode_puback(body)
                t = self.inflight.pop(pid, None)
                if t is None:
                    continue
                if reason >= 0x80:
                    result.refused += 1
                else:
                    result.acked += 1
                    result.ack_ms.append((now - t) * 1000)
            elif kind == DISCONNECT:
                reason = body[0] if body else 0
                raise LoadPubError(f"{self.dev.device_id}: broker disconnected (reason 0x{reason:02x})")
            elif kind != PINGRESP:
                raise LoadPubError(f"{self.dev.device_id}: unexpected packet type 0x{kind:02x}")

    def close(self) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(self.out + b"\xe0\x00")  # DISCONNECT, normal
        except OSError:
            pass
        self.sock.close()


def publish_load(devices: Sequence[Device], spec: LoadSpec, *, payload_for: Callable[[str], PayloadFn] | None = None,
                 start_at: float | None = None) -> LoadResult:  # fmt: skip
    """Publish ``spec.count`` QoS 1 messages as each device, on its own topic, until all are acknowledged.

    Args:
        devices: provisioned devices; each connects with its own credentials (the broker's ACL applies).
        spec: broker, counts, rate, window.
        payload_for: device id -> payload function (default: native motion readings of ``payload_bytes``).
        start_at: wall-clock time to start publishing (connections are made before), e.g. to line up processes.

    Returns:
        Sent, acknowledged and refused counts, elapsed seconds and per-message PUBACK latencies.

    Raises:
        LoadPubError: a connection was refused or lost, or not everything was acknowledged within the timeout.
    """
    make = payload_for or (lambda d: native_motion_payload(d, spec.payload_bytes))
    conns = [_Conn(d, spec, make(d.device_id)) for d in devices]
    result = LoadResult()
    sel = selectors.DefaultSelector()
    try:
        for c in conns:
            sel.register(c.sock, selectors.EVENT_READ, c)
        if start_at is not None:
            time.sleep(max(0.0, start_at - time.time()))
        _loop(conns, sel, spec, result)
    finally:
        for c in conns:
            c.close()
        sel.close()
    return result


def _loop(conns: list[_Conn], sel: selectors.BaseSelector, spec: LoadSpec, result: LoadResult) -> None:
    t0 = time.perf_counter()
    deadline = t0 + spec.timeout_s
    while not all(c.done for c in conns):
        now = time.perf_counter()
        if now > deadline:
            left = sum(len(c.inflight) + spec.count - c.sent for c in conns)
            raise LoadPubError(f"{left} messages not acknowledged after {spec.timeout_s:.0f} s")
        due = int((now - t0) * spec.rate) + 1 if spec.rate else spec.count
        for c in conns:
            c.fill(due)
            c.flush()
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0)
            if sel.get_key(c.sock).events != want:
                sel.modify(c.sock, want, c)
        wait = min(0.5, max(0.0, t0 + due / spec.rate - now)) if spec.rate else 0.5
        for key, mask in sel.select(wait):
            conn: _Conn = key.data
            if mask & selectors.EVENT_READ:
                conn.read(result)
    result.sent = sum(c.sent for c in conns)
    if spec.qos == 0:
        result.acked = result.sent
    result.elapsed_s = time.perf_counter() - t0
