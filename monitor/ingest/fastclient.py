"""A paho-mqtt 2 client that reads the socket in large chunks and acknowledges a whole batch in one write.

Stock paho reads each packet with three ``recv`` calls (type byte, length bytes, body) and one ``select``
per packet, and queues every PUBACK as its own packet (a wake-up write and a ``send`` each); at ten thousand
messages a second that is most of a core. Here the TCP socket is wrapped so one ``recv`` of up to 256 KiB
feeds paho's small reads, ``loop_read`` keeps going while whole packets are buffered, and ``ack_many``
queues the PUBACKs of a batch as one write. Everything else (protocol, session, reconnects) is paho's own.
The hooks used (``_create_socket``, ``_packet_queue``) are paho 2.x internals: when a paho release lacks
them the client falls back to paho's stock behaviour, slower but correct.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_CHUNK = 256 * 1024
_PUBACK = 0x40
HAS_HOOKS = hasattr(mqtt.Client, "_create_socket") and hasattr(mqtt.Client, "_packet_queue")


class BufferedSocket:
    """A socket whose ``recv`` is served from one large read; ``pending()`` says what is still buffered."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes, from the buffer or (when it is empty) one large read of the socket."""
        if self._pos >= len(self._buf):
            data = self._sock.recv(READ_CHUNK)  # BlockingIOError when nothing is there: paho expects it
            if not data:
                return b""
            self._buf, self._pos = data, 0
        out = self._buf[self._pos : self._pos + bufsize]
        self._pos += len(out)
        return out

    def pending(self) -> int:
        return len(self._buf) - self._pos

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)  # send, fileno, setblocking, close, ...


def puback_packets(mids: Iterable[int]) -> bytes:
    """MQTT PUBACKs (success, no properties: valid in 3.1.1 and 5) for these message ids, back to back."""
    return b"".join(struct.pack("!BBH", _PUBACK, 2, mid) for mid in mids)


RawCallback = Callable[[str, bytes, int, int, bool], None]  # (topic, payload, mid, qos, retain)


def parse_publish(header: int, packet: bytes | bytearray) -> tuple[str, bytes, int, int, bool] | None:
    """(topic, payload, mid, qos, retain) of an MQTT v5 PUBLISH body; None when paho should handle it
    (QoS 2, an empty topic as with topic aliases, a malformed packet)."""
    qos = (header >> 1) & 3
    if qos > 1 or len(packet) < 3:
        return None
    tlen = (packet[0] << 8) | packet[1]
    pos = 2 + tlen
    if tlen == 0:
        return None
    try:
        topic = packet[2:pos].decode()
    except UnicodeDecodeError:
        return None
    mid = 0
    if qos:
        if pos + 2 > len(packet):
            return None
        mid, pos = (packet[pos] << 8) | packet[pos + 1], pos + 2
    props_len, mult = 0, 1
    for _ in range(4):  # variable byte integer: the properties' length (their contents are not needed)
        if pos >= len(packet):
            return None
        byte, pos = packet[pos], pos + 1
        props_len += (byte & 0x7F) * mult
        mult *= 128
        if not byte & 0x80:
            break
    pos += props_len
    if pos > len(packet):
        return None
    return topic, bytes(packet[pos:]), mid, qos, bool(header & 1)


class FastClient(mqtt.Client):
    """``paho.mqtt.client.Client`` with chunked reads and batched acknowledgements (see the module doc).

    With ``on_raw_message`` set (and ``manual_ack``, MQTT v5), a QoS 0/1 PUBLISH is handed over as
    ``(topic, payload, mid, qos, retain)`` without paho's per-message objects (``MQTTMessage``, parsed
    ``Properties``, topic-filter dispatch); anything else goes through paho's own ``_handle_publish``.
    """

    on_raw_message: RawCallback | None = None

    def _handle_publish(self) -> MQTTErrorCode:
        cb = self.on_raw_message
        if cb is None or not self._manual_ack or self._protocol != mqtt.MQTTv5:
            return super()._handle_publish()
        parsed = parse_publish(self._in_packet["command"], self._in_packet["packet"])
        if parsed is None:
            return super()._handle_publish()
        with self._in_callback_mutex:
            cb(*parsed)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if not HAS_HOOKS or self._transport != "tcp" or self._ssl:
            return sock
        return BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read every packet already received, not just one (paho's loop calls this once per ``select``)."""
        while True:
            rc = super().loop_read(max_packets)
            sock = self._sock
            if (
                rc != MQTTErrorCode.MQTT_ERR_SUCCESS
                or not isinstance(sock, BufferedSocket)
                or not sock.pending()
            ):
                return rc

    def ack_many(self, mids: list[int]) -> None:
        """Acknowledge QoS 1 messages (``manual_ack``) with one queued write instead of one per message."""
        if not mids:
            return
        if not HAS_HOOKS:
            for mid in mids:
                self.ack(mid, 1)
            return
        self._packet_queue(_PUBACK, puback_packets(mids), 0, 0)
