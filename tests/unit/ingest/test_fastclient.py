import socket

import pytest

from monitor.ingest.fastclient import BufferedSocket, parse_publish, puback_packets


def test_parse_publish_qos1_with_properties() -> None:
    # topic "a/b", packet id 0x0102, properties (length 2: payload format indicator = 1), payload "hi"
    body = b"\x00\x03a/b" + b"\x01\x02" + b"\x02\x01\x01" + b"hi"
    assert parse_publish(0x32, body) == ("a/b", b"hi", 0x0102, 1, False)
    assert parse_publish(0x33, bytearray(body)) == ("a/b", b"hi", 0x0102, 1, True)  # retained


def test_parse_publish_qos0_has_no_packet_id() -> None:
    assert parse_publish(0x30, b"\x00\x01t\x00{}") == ("t", b"{}", 0, 0, False)


@pytest.mark.parametrize(
    ("header", "body"),
    [
        (0x34, b"\x00\x01t\x00\x01\x00x"),  # QoS 2: paho's own path
        (0x32, b"\x00\x00\x00\x01\x03\x23\x00\x01x"),  # empty topic (topic alias)
        (0x32, b"\x00\x05ab"),  # truncated
        (0x32, b"\x00\x01t\x00\x01\x05\x01"),  # properties longer than the packet
        (0x32, b"\x00\x02\xff\xfe\x00\x01\x00x"),  # topic not UTF-8
    ],
)
def test_parse_publish_leaves_the_rest_to_paho(header: int, body: bytes) -> None:
    assert parse_publish(header, body) is None


def test_puback_packets_back_to_back() -> None:
    assert puback_packets([1, 0x1234, 65535]) == b"\x40\x02\x00\x01\x40\x02\x12\x34\x40\x02\xff\xff"
    assert puback_packets([]) == b""


def test_buffered_socket_serves_small_reads_from_one_read() -> None:
    a, b = socket.socketpair()
    try:
        b.setblocking(False)
        buffered = BufferedSocket(b)
        a.sendall(b"\x30\x05hello" + b"\x40")
        assert buffered.recv(1) == b"\x30"
        assert buffered.pending() == 7  # the rest is already in user space
        assert buffered.recv(1) == b"\x05"
        assert buffered.recv(100) == b"hello\x40"  # never more than what was read
        assert buffered.pending() == 0
        with pytest.raises(BlockingIOError):
            buffered.recv(1)  # nothing buffered, nothing on the socket
        assert buffered.fileno() == b.fileno()  # everything else is the socket's
        a.close()
        assert buffered.recv(1) == b""  # closed
    finally:
        b.close()
