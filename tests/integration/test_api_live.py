"""/ws/live: scoped fan-out from LISTEN/NOTIFY; reconnect with the last id replays the gap once, in order."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices import registry
from monitor import live
from web.api.app import create_app
from web.auth import users
from web.auth.principal import Role
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.timeout(60)]
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def setup(settings: Settings) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    names = {"tag": tag, "a": f"wsa-{tag}", "b": f"wsb-{tag}"}
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        for key in ("a", "b"):
            registry.add_station(conn, id=names[key], name=key, lat=29.7, lon=106.6)
            registry.add_home(
                conn, id=f"h{names[key]}", station_id=names[key], address="x", lat=29.7, lon=106.6
            )
        users.create_user(conn, username=f"ws-staff-{tag}", name="s", role=Role.STAFF, password=PASSWORD,
                          station_ids=[names["a"]])  # fmt: skip
        registry.add_resident(conn, id=f"wsr-{tag}", home_id=f"h{names['a']}", name="r")
        users.create_user(conn, username=f"ws-family-{tag}", name="f", role=Role.FAMILY, password=PASSWORD,
                          resident_ids=[f"wsr-{tag}"])  # fmt: skip
    return names


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cookie_secure=False, live_gap_timeout=30)) as c:
        yield c


def _auth(client: TestClient, setup: dict[str, str], who: str = "staff") -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": f"ws-{who}-{setup['tag']}", "password": PASSWORD})
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _publish(conn: psycopg.Connection[Any], station: str, subject: str) -> int:
    event_id = live.publish(
        conn, topic="alert", subject_id=subject, station_id=station, home_id=f"h{station}"
    )
    conn.commit()
    return event_id


def _events_until_live(ws: Any) -> list[dict[str, Any]]:
    out = []
    while (msg := ws.receive_json())["type"] != "live":
        out.append(msg)
    return out


def test_reconnect_replays_the_gap_once_in_order(
    client: TestClient, setup: dict[str, str], settings: Settings
) -> None:
    headers = _auth(client, setup)
    with psycopg.connect(settings.db().conninfo()) as conn:
        with client.websocket_connect("/ws/live", headers=headers) as ws:
            assert ws.receive_json()["type"] == "hello"
            assert ws.receive_json()["type"] == "live"
            first = _publish(conn, setup["a"], "e0")
            msg = ws.receive_json()
            assert (msg["id"], msg["subject_id"], msg["resume_after"]) == (first, "e0", first)
        missed = []
        for i in range(1, 6):
            missed.append(_publish(conn, setup["a"], f"e{i}"))
            _publish(conn, setup["b"], f"other{i}")  # another station: never sent to this user
        with client.websocket_connect(f"/ws/live?after={msg['resume_after']}", headers=headers) as ws:
            assert ws.receive_json()["type"] == "hello"
            replay = _events_until_live(ws)
            assert [e["id"] for e in replay] == missed
            assert [e["subject_id"] for e in replay] == [f"e{i}" for i in range(1, 6)]
            after = _publish(conn, setup["a"], "e6")
            nxt = ws.receive_json()
            assert (nxt["id"], nxt["subject_id"]) == (after, "e6")  # the live one, and no replayed duplicate


def test_a_late_committing_lower_id_is_delivered_once(
    client: TestClient, setup: dict[str, str], settings: Settings
) -> None:
    headers = _auth(client, setup)
    conninfo = settings.db().conninfo()
    with (
        psycopg.connect(conninfo) as slow,
        psycopg.connect(conninfo) as fast,
        client.websocket_connect("/ws/live", headers=headers) as ws,
    ):
        assert [ws.receive_json()["type"] for _ in range(2)] == ["hello", "live"]
        low = live.publish(slow, topic="alert", subject_id="late", station_id=setup["a"],
                           home_id=f"h{setup['a']}")  # fmt: skip
        high = _publish(fast, setup["a"], "early")
        assert high > low
        got = ws.receive_json()
        assert (got["id"], got["subject_id"]) == (high, "early")
        assert got["resume_after"] < low  # resuming must not skip the uncommitted lower id
        slow.commit()
        late = ws.receive_json()
        assert (late["id"], late["subject_id"], late["resume_after"]) == (low, "late", high)
        marker = _publish(fast, setup["a"], "marker")
        assert ws.receive_json()["id"] == marker  # nothing was delivered twice in between


def test_websocket_refuses_without_login(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws/live") as ws:
        ws.receive_json()
    assert info.value.code == 1008


def test_socket_closes_when_the_session_ends(
    client: TestClient, setup: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.websockets import WebSocketDisconnect

    from web.api.routers import ws as ws_router

    monkeypatch.setattr(ws_router, "REVALIDATE_S", 0.2)
    headers = _auth(client, setup)
    with client.websocket_connect("/ws/live", headers=headers) as ws:
        assert [ws.receive_json()["type"] for _ in range(2)] == ["hello", "live"]
        assert client.post("/api/auth/logout", headers=headers).status_code == 204
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
    assert info.value.code == 1008


def test_watermark_waits_for_a_gap_while_its_writer_may_commit() -> None:
    from web.api.live import Hub

    busy = (500, 510)  # transactions 500..509 were in flight when the gap was first seen
    hub = Hub("unused", gap_timeout=5.0)
    hub.watermark = 1
    for event_id in (3, 4):
        hub._remember(event_id)
    hub._advance(100.0, busy)
    assert hub.watermark == 1  # id 2 may still commit
    hub._advance(104.0, (505, 530))  # some of them still run
    assert hub.watermark == 1
    hub._remember(2)  # it did commit: everything up to 4 is now delivered
    hub._advance(104.5, (505, 530))
    assert hub.watermark == 4
    hub._remember(6)
    hub._advance(200.0, busy)
    assert hub.watermark == 4
    hub._advance(200.5, (510, 540))  # all in-flight writers ended and id 5 is still missing: rolled back
    assert hub.watermark == 6
    hub._remember(8)
    hub._advance(300.0, (600, 600))  # nothing in flight at all: a gap is final at once
    assert hub.watermark == 8
    hub._remember(10)
    hub._advance(400.0, busy)
    hub._advance(405.1, busy)  # a writer that never ends does not hold the watermark for ever
    assert hub.watermark == 10


def test_family_gets_only_their_relatives_alerts(
    client: TestClient, setup: dict[str, str], settings: Settings
) -> None:
    headers = _auth(client, setup, "family")
    with psycopg.connect(settings.db().conninfo()) as conn:
        mine = _publish(conn, setup["a"], "mine")  # an alert at their relative's home
        live.publish(conn, topic="alert", subject_id="neighbour", station_id=setup["a"], home_id="elsewhere")
        live.publish(conn, topic="task", subject_id="task", station_id=setup["a"], home_id=f"h{setup['a']}")
        conn.commit()
        with client.websocket_connect(f"/ws/live?after={mine - 1}", headers=headers) as ws:
            assert ws.receive_json()["type"] == "hello"
            assert [e["subject_id"] for e in _events_until_live(ws)] == ["mine"]  # replay is scoped in SQL
            live.publish(
                conn, topic="alert", subject_id="neighbour2", station_id=setup["a"], home_id="elsewhere"
            )
            last = _publish(conn, setup["a"], "mine2")
            got = ws.receive_json()
            assert (got["id"], got["subject_id"]) == (last, "mine2")  # live fan-out is scoped the same way


def test_one_event_that_cannot_be_dispatched_costs_that_event_not_the_feed() -> None:
    """The live feed's per-message boundary: a subscriber whose scope check raises on one event is skipped for it;
    every other subscriber and every later event still arrive."""
    from web.api.live import Event, Hub

    def fragile(row: Event) -> bool:
        if row["id"] == 1:
            raise KeyError("station_id")
        return True

    hub = Hub("postgresql://unused")
    bad = hub.subscribe(fragile)
    good = hub.subscribe(lambda _row: True)
    for event_id in (1, 2):
        hub.dispatch(
            {"id": event_id, "topic": "alert", "subject_id": "x", "at": datetime.now(UTC), "payload": {}}
        )
    assert good.queue.qsize() == 2
    assert bad.queue.qsize() == 1
    assert hub.failed_events == 1
