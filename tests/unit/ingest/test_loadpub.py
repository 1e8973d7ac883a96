import json

import pytest

from devices.telemetry import decode_native
from devices.types import DeviceKind
from monitor import loadpub
from monitor.loadpub import LoadPubError


def test_varint_matches_the_spec_examples() -> None:
    # MQTT v5 §1.5.5: 0 -> 00, 127 -> 7F, 128 -> 80 01, 16383 -> FF 7F, 16384 -> 80 80 01, 268435455 -> FF FF FF 7F
    cases = {0: b"\x00", 127: b"\x7f", 128: b"\x80\x01", 16_383: b"\xff\x7f", 16_384: b"\x80\x80\x01",
             268_435_455: b"\xff\xff\xff\x7f"}  # fmt: skip
    for value, raw in cases.items():
        assert loadpub.encode_varint(value) == raw
        assert loadpub.decode_varint(b"\xaa" + raw, 1) == (value, 1 + len(raw))
    with pytest.raises(ValueError, match="out of range"):
        loadpub.encode_varint(268_435_456)
    assert loadpub.decode_varint(b"\x80\x80", 0) is None  # incomplete
    with pytest.raises(LoadPubError):
        loadpub.decode_varint(b"\xff\xff\xff\xff\x01", 0)


def test_connect_bytes() -> None:
    raw = loadpub.encode_connect(client_id="c", username="u", password="pw", keepalive=60)
    body = b"\x00\x04MQTT\x05\xc2\x00\x3c\x00" + b"\x00\x01c" + b"\x00\x01u" + b"\x00\x02pw"
    assert raw == b"\x10" + bytes([len(body)]) + body


def test_publish_bytes_qos1_with_empty_properties() -> None:
    topic = loadpub.publish_header("a/b")
    assert topic == b"\x00\x03a/b"
    raw = loadpub.encode_publish(topic, 65_535, b"hi")
    # 0x32 = PUBLISH, QoS 1; remaining 2+3 topic, 2 packet id, 1 property length, 2 payload = 10
    assert raw == b"\x32\x0a\x00\x03a/b\xff\xff\x00hi"
    long = loadpub.encode_publish(topic, 1, b"x" * 200)
    assert long[1:3] == b"\xd0\x01"  # 208 = 0x50 + 1*128
    assert len(long) == 3 + 208
    assert loadpub.encode_publish(topic, 9, b"hi", qos=0) == b"\x30\x08\x00\x03a/b\x00hi"  # no packet id


def test_connack_and_puback_decoding() -> None:
    # session present 0, success, properties: receive maximum 1000, topic alias max 10, reason string "ok"
    props = b"\x21\x03\xe8" + b"\x22\x00\x0a" + b"\x1f\x00\x02ok"
    ack = loadpub.decode_connack(b"\x00\x00" + bytes([len(props)]) + props)
    assert ack == loadpub.Connack(session_present=False, reason_code=0, receive_maximum=1000)
    refused = loadpub.decode_connack(b"\x00\x86\x00")  # bad user name or password
    assert refused.reason_code == 0x86
    assert refused.receive_maximum == 65_535
    assert loadpub.decode_puback(b"\x12\x34") == (0x1234, 0)
    assert loadpub.decode_puback(b"\x00\x07\x87\x00") == (7, 0x87)
    with pytest.raises(LoadPubError, match="unknown property"):
        loadpub.decode_connack(b"\x00\x00\x02\x7f\x00")


def test_split_packets_keeps_the_partial_tail() -> None:
    buf = bytearray(b"\x40\x02\x00\x01" + b"\x40\x03\x00\x02\x87" + b"\xd0\x00" + b"\x40\x02\x00")
    assert loadpub.split_packets(buf) == [(0x40, b"\x00\x01"), (0x40, b"\x00\x02\x87"), (0xD0, b"")]
    assert buf == bytearray(b"\x40\x02\x00")
    buf += b"\x09"
    assert loadpub.split_packets(buf) == [(0x40, b"\x00\x09")]
    assert buf == bytearray()


def test_native_payload_is_valid_and_about_the_size() -> None:
    make = loadpub.native_motion_payload("m-1", 200)
    raw = make(1_000_001, 1_763_900_000.25)
    obj = json.loads(raw)
    assert obj["ts"] == "2025-11-23T12:13:20.250Z"
    assert obj["seq"] == 1_000_001
    assert obj["kind"] == "motion"
    assert obj["values"]["sent_at"] == 1_763_900_000.25
    assert obj["values"]["occupancy"] is False
    assert 195 <= len(raw) <= 205
    reading = decode_native("m-1", raw, kind_of_device=DeviceKind.MOTION)  # what ingest will do with it
    assert reading.seq == 1_000_001


def test_packet_ids_wrap_and_skip_those_in_flight() -> None:
    assert loadpub.free_packet_id(65_535, set()) == 65_535
    assert loadpub.free_packet_id(65_535, {65_535}) == 1
    assert loadpub.free_packet_id(65_534, {65_534, 65_535, 1, 2}) == 3
    assert loadpub.free_packet_id(1, set()) == 1
