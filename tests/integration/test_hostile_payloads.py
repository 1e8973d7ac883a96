"""No device message can silence the alarms: >10,000 hostile messages from provisioned devices, through the real
broker into the real ingest and rules processes, while a normal home keeps publishing; then an SOS.

Each hostile message must be dead-lettered exactly once with a reason, no normal reading lost, neither process
restarted, the spool empty, and the SOS alerted through the urgent lane at once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from devices import topics
from devices.types import DeviceKind, Room
from tests.integration.test_rules_process import add_device, alerts, payload, rules
from tests.support import DevicePublisher, IngestProcess, count, make_home, wait_until
from tests.unit.ingest.test_hostile import KILLERS
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.mqtt, pytest.mark.slow]

CORPUS_SIZE = 10_000
NONCE = b"@N@"  # replaced by a unique number in each message, so that no two are the same bytes
NATIVE, Z2M = "native", "z2m"
BIG_PAYLOAD = (
    250 * 1024
)  # under the broker's packet limit (web.stack.mosquitto.MAX_PACKET_BYTES): reaches ingest


def _stamp() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _env(**fields: object) -> dict[str, object]:
    return {"ts": _stamp(), "seq": "@SEQ@", "kind": "motion", **fields}


def _dump(obj: object) -> bytes:
    return json.dumps(obj, allow_nan=True).replace('"@SEQ@"', "@N@").encode()


WRONG: dict[str, list[object]] = {
    "ts": [123, None, [], {}, "yesterday", "2026-11-23T08:30:00", "9999-01-01T00:00:00Z", 1.5],
    "seq": [-1, 1.5, "1", [], None, True, 2**63, {"a": 1}],
    "kind": ["door", 1, None, [], "MOTION", "sos_button"],
    "values": [[1], "x", 1, None, True],
    "occupancy": ["yes", 1, None, [], 0.0],
    "temperature": ["hot", True, 1000, -100, None],
    "battery": [140, -1, "x", False],
}
BIG_NUMBERS = ["1e400", "-1e400", "1e309", "NaN", "Infinity", "-Infinity", str(2**64), str(-(2**63) - 1)]
BAD_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"]


def _raw(ts_seq: str, rest: str) -> bytes:
    return ("{" + f'"ts":"{_stamp()}",' + ts_seq + rest + "}").encode()


def _deep(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    depth = draw(st.integers(9, 2000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    return (
        NATIVE,
        _raw('"seq":@N@,', f'"kind":"motion","values":{{"x":{opener * depth}1{closer * depth}}}'),
        False,
    )


def _number(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    token = draw(st.sampled_from(BIG_NUMBERS) | st.integers(20, 400).map(lambda n: "9" * n))
    field = draw(st.sampled_from(["temperature", "x", "seq"]))
    if field == "seq":
        return NATIVE, _raw(f'"seq":{token},', '"kind":"motion","n":@N@'), False
    return NATIVE, _raw('"seq":@N@,', f'"kind":"motion","values":{{"{field}":{token}}}'), False


def _string(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    return NATIVE, _dump(_env(values={"action": "a" * draw(st.integers(1025, 12_000))})), False


def _utf8(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    return (
        NATIVE,
        _dump(_env(values={"action": "__BAD__"})).replace(b"__BAD__", draw(st.sampled_from(BAD_UTF8))),
        False,
    )


def _wrong(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    field = draw(st.sampled_from(sorted(WRONG)))
    value = draw(st.sampled_from(WRONG[field]))
    if field in ("occupancy", "temperature", "battery"):
        return NATIVE, _dump(_env(values={field: value})), False
    env = _env(**{field: value})
    if field == "seq":
        env["n"] = "@SEQ@"
    return NATIVE, _dump(env), False


def _big(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    return (
        NATIVE,
        b'{"n":@N@,"pad":"' + b"a" * draw(st.integers(BIG_PAYLOAD - 1000, BIG_PAYLOAD)) + b'"}',
        False,
    )


Z2M_MANGLED: list[tuple[str, object]] = [
    ("contact", "yes"), ("contact", 1), ("contact", None), ("last_seen", 1e300), ("last_seen", -1),
    ("last_seen", 0), ("last_seen", "x"), ("last_seen", []), ("last_seen", True),
    ("battery", 1000), ("linkquality", -5), ("temperature", "x"), ("tamper", "no"),
]  # fmt: skip


def _z2m(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    field, value = draw(st.sampled_from(Z2M_MANGLED))
    return Z2M, _dump({"contact": True, "n": "@SEQ@", field: value}), False


def _retained(_draw: st.DrawFn) -> tuple[str, bytes, bool]:
    return NATIVE, _dump(_env(values={"occupancy": True})), True


def _not_object(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    return NATIVE, draw(st.sampled_from([b"[@N@]", b'"@N@"', b"@N@", b"[true, @N@]"])), False


def _truncated(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    whole = _dump(_env(values={"occupancy": True}))
    return NATIVE, whole[: draw(st.integers(1, len(whole) - 2))] + b"@N@", False


KINDS = [_deep, _number, _string, _utf8, _wrong, _z2m, _retained, _not_object, _truncated]


@st.composite
def hostile(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    """(route, payload with a NONCE placeholder, retained): every one of them must be refused."""
    make = draw(st.sampled_from([*KINDS * 20, _big]))  # a 250 KiB message one time in 181
    return make(draw)


def corpus(n: int) -> list[tuple[str, bytes, bool]]:
    """``n`` hostile messages drawn by Hypothesis (deterministic), plus every named killer."""
    drawn: list[tuple[str, bytes, bool]] = []

    @hsettings(max_examples=n, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)  # fmt: skip
    @given(hostile())
    def collect(message: tuple[str, bytes, bool]) -> None:
        drawn.append(message)

    collect()
    out = [(NATIVE, p, False) for p in KILLERS.values()]
    out.append((Z2M, b'{"contact":true,"last_seen":1e300}', False))
    for i, (route, body, retained) in enumerate(drawn):
        out.append((route, body.replace(NONCE, str(10**6 + i).encode()), retained))
    return out


def _key(topic: str, body: bytes) -> bytes:
    return hashlib.sha256(topic.encode() + b"\0" + body).digest()[:16]


class Flood:
    """Publish as one device at QoS 1 without waiting for each ack (paho queues and paces them)."""

    def __init__(self, settings: Settings, username: str, password: str) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"flood-{username}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(500)
        self.acked = 0
        self.client.on_publish = lambda *_a: setattr(self, "acked", self.acked + 1)
        self.client.connect(settings.mqtt_host, settings.mqtt_port)
        self.client.loop_start()
        self.sent = 0

    def publish(self, topic: str, body: bytes, retained: bool) -> None:
        self.client.publish(topic, body, qos=1, retain=retained)
        self.sent += 1

    def close(self) -> None:
        assert wait_until(lambda: self.acked >= self.sent, 120), (self.acked, self.sent)
        self.client.disconnect()
        self.client.loop_stop()


def test_hostile_messages_are_dead_lettered_and_silence_nothing(
    db: psycopg.Connection, settings: Settings, stack_dir: Path, tmp_path: Path
) -> None:
    messages = corpus(CORPUS_SIZE)
    assert len(messages) > 10_000
    bad = make_home(db, settings)  # the hostile devices: its motion sensor and its zigbee2mqtt gateway
    normal = make_home(db, settings)
    sos_home = make_home(db, settings)
    sos = add_device(db, settings, sos_home, DeviceKind.SOS_BUTTON, Room.BEDROOM)
    db.commit()
    tag = uuid.uuid4().hex[:8]
    ingest = IngestProcess(stack_dir, f"hostile-{tag}", tmp_path / "ingest.log")
    rules_proc = rules(stack_dir, tmp_path, f"hostile-{tag}")

    # A normal home publishes all along.
    normal_pub = DevicePublisher(settings, normal.native, normal.passwords[normal.native])
    stop, normal_sent = threading.Event(), [0]

    def keep_publishing() -> None:
        while not stop.is_set():
            normal_sent[0] += 1
            normal_pub.publish(topics.device_event(normal.native), payload(normal_sent[0], "motion", occupancy=True),
                               wait=False)  # fmt: skip
            time.sleep(0.01)

    normal_thread = threading.Thread(target=keep_publishing, daemon=True)
    normal_thread.start()

    native = Flood(settings, bad.native, bad.passwords[bad.native])
    gateway = Flood(settings, bad.gateway, bad.passwords[bad.gateway])
    keys = set()
    for route, body, retained in messages:
        if route == NATIVE:
            topic = topics.device_event(bad.native)
            native.publish(topic, body, retained)
        else:
            topic = topics.gateway_z2m(bad.gateway, "front_door")
            gateway.publish(topic, body, retained)
        keys.add(_key(topic, body))
    native.close()
    gateway.close()
    stop.set()
    normal_thread.join(10)
    normal_pub.close()

    # Every hostile message is dead-lettered exactly once (the key is unique), each with a reason.
    def dead() -> int:
        return count(db, "SELECT count(*) FROM dead_letter WHERE msg_key = ANY(%s)", list(keys))

    assert wait_until(lambda: dead() == len(keys), 180), (dead(), len(keys), ingest.log()[-3000:])
    assert (
        count(db, "SELECT count(*) FROM dead_letter WHERE msg_key = ANY(%s) AND reason = ''", list(keys)) == 0
    )
    assert count(db, "SELECT count(*) FROM reading WHERE device_id = ANY(%s)", [bad.native, bad.door]) == 0
    # ... and nothing of the normal home's is lost.
    stored = "SELECT count(*) FROM reading WHERE device_id = %s"
    assert wait_until(lambda: count(db, stored, normal.native) == normal_sent[0], 60), normal_sent

    # Then an SOS from a third home: alerted through the urgent lane, at once.
    pub = DevicePublisher(settings, sos, sos_home.passwords[sos])
    pressed = datetime.now(UTC)
    pub.publish(topics.device_event(sos), payload(1, "sos_button", action="sos"))
    assert wait_until(lambda: len(alerts(db, sos_home.home_id)) == 1, 20), rules_proc.log()[-3000:]
    pub.close()
    raised = db.execute("SELECT raised_at FROM alert WHERE home_id = %s", (sos_home.home_id,)).fetchone()
    db.commit()
    assert raised is not None
    delay_ms = (raised[0] - pressed).total_seconds() * 1000
    print(f"SOS press → alert committed after {len(messages)} hostile messages: {delay_ms:.0f} ms")
    assert delay_ms < 1000, delay_ms

    # Neither process restarted or faulted, and the spool holds nothing, quarantined or waiting.
    assert ingest.proc.poll() is None, ingest.log()[-3000:]
    assert rules_proc.proc.poll() is None, rules_proc.log()[-3000:]
    for log in (ingest.log(), rules_proc.log()):
        assert "fault, exiting" not in log
        assert "Traceback" not in log
    spool = stack_dir / "spool" / f"ingest-hostile-{tag}"
    assert not list(spool.rglob("*.jsonl")), list(spool.rglob("*"))
    # A retained event is cleared at the broker: a new subscriber gets nothing retained on that topic.
    got: list[bytes] = []
    probe = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    probe.username_pw_set(settings.mqtt().username, settings.mqtt().password.get_secret_value())
    probe.on_message = lambda _c, _u, m: got.append(bytes(m.payload)) if m.retain else None
    probe.connect(settings.mqtt_host, settings.mqtt_port)
    probe.subscribe(topics.device_event(bad.native), qos=1)
    probe.loop_start()
    time.sleep(1.0)
    probe.disconnect()
    probe.loop_stop()
    assert got == [], got[:1]
    assert ingest.stop() == 0
    assert rules_proc.stop() == 0
