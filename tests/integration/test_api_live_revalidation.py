"""/ws/live on a busy feed (one event per second): logout, disable, a scope change, token expiry and a
re-plan each close or re-scope the socket within 5 s. The feed never goes idle, so an idle-only check
would never run."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from devices import registry
from monitor import live
from web.api.app import create_app
from web.auth import users
from web.auth.principal import Role
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.timeout(120)]
PASSWORD = "correct-horse-battery"
WITHIN_S = 5.0


@pytest.fixture(scope="module")
def world(settings: Settings) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    w = {"tag": tag, "a": f"rva-{tag}", "b": f"rvb-{tag}"}
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        for key in ("a", "b"):
            registry.add_station(conn, id=w[key], name=key, lat=29.7, lon=106.6)
            registry.add_home(conn, id=f"h{w[key]}", station_id=w[key], address="x", lat=29.7, lon=106.6)
        users.create_user(conn, username=f"rv-admin-{tag}", name="a", role=Role.ADMIN, password=PASSWORD)
    return w


@pytest.fixture(scope="module")
def clock() -> dict[str, datetime | None]:
    return {"now": None}  # None: the wall clock


@pytest.fixture(scope="module")
def client(settings: Settings, clock: dict[str, datetime | None]) -> Iterator[TestClient]:
    app = create_app(settings, cookie_secure=False, clock=lambda: clock["now"] or datetime.now(UTC))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def busy_feed(settings: Settings, world: dict[str, str]) -> Iterator[None]:
    """One event per second at each station, for the whole module."""
    stop = threading.Event()

    def publish() -> None:
        with psycopg.connect(settings.db().conninfo()) as conn:
            n = 0
            while not stop.wait(1.0):
                for key in ("a", "b"):
                    live.publish(conn, topic="alert", subject_id=f"busy-{n}", station_id=world[key],
                                 home_id=f"h{world[key]}")  # fmt: skip
                conn.commit()
                n += 1

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def _staff(settings: Settings, world: dict[str, str], stations: list[str]) -> tuple[int, str]:
    username = f"rv-staff-{uuid.uuid4().hex[:6]}"
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        p = users.create_user(conn, username=username, name="s", role=Role.STAFF, password=PASSWORD,
                              station_ids=stations)  # fmt: skip
    return p.id, username


def _bearer(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _started(sock: Any) -> None:
    assert [sock.receive_json()["type"] for _ in range(2)] == ["hello", "live"]
    assert sock.receive_json()["type"] == "event"  # the feed is busy


def _closed_within(sock: Any, seconds: float) -> tuple[float, int]:
    """Read events until the socket closes; (seconds it took, close code). Fails if it stays open."""
    started = time.monotonic()
    while True:
        try:
            sock.receive_json()
        except WebSocketDisconnect as exc:
            return time.monotonic() - started, exc.code
        assert time.monotonic() - started < seconds + 2, "still open and receiving"


@pytest.mark.usefixtures("busy_feed")
def test_logout_closes_a_busy_socket(client: TestClient, settings: Settings, world: dict[str, str]) -> None:
    _uid, name = _staff(settings, world, [world["a"]])
    headers = _bearer(client, name)
    with client.websocket_connect("/ws/live", headers=headers) as sock:
        _started(sock)
        assert client.post("/api/auth/logout", headers=headers).status_code == 204
        took, code = _closed_within(sock, WITHIN_S)
    assert (code, took < WITHIN_S) == (1008, True)


@pytest.mark.usefixtures("busy_feed")
def test_disabling_the_user_closes_it(client: TestClient, settings: Settings, world: dict[str, str]) -> None:
    uid, name = _staff(settings, world, [world["a"]])
    admin = _bearer(client, f"rv-admin-{world['tag']}")
    with client.websocket_connect("/ws/live", headers=_bearer(client, name)) as sock:
        _started(sock)
        assert client.post(f"/api/users/{uid}/disable", headers=admin).status_code == 200
        took, code = _closed_within(sock, WITHIN_S)
    assert (code, took < WITHIN_S) == (1008, True)


@pytest.mark.usefixtures("busy_feed")
def test_token_expiry_closes_it(
    client: TestClient, settings: Settings, world: dict[str, str], clock: dict[str, datetime | None]
) -> None:
    _uid, name = _staff(settings, world, [world["a"]])
    with client.websocket_connect("/ws/live", headers=_bearer(client, name)) as sock:
        _started(sock)
        clock["now"] = datetime.now(UTC) + timedelta(minutes=16)  # the access token lives 15 min
        try:
            took, code = _closed_within(sock, WITHIN_S)
        finally:
            clock["now"] = None
    assert (code, took < WITHIN_S) == (1008, True)


@pytest.mark.usefixtures("busy_feed")
def test_a_scope_change_rescopes_it(client: TestClient, settings: Settings, world: dict[str, str]) -> None:
    uid, name = _staff(settings, world, [world["a"]])
    with client.websocket_connect("/ws/live", headers=_bearer(client, name)) as sock:
        _started(sock)
        with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
            conn.execute("UPDATE user_station SET station_id = %s WHERE user_id = %s", (world["b"], uid))
        started = time.monotonic()
        while (msg := sock.receive_json())["type"] != "scope":
            assert msg["station_id"] == world["a"]
            assert time.monotonic() - started < WITHIN_S + 2, "never re-scoped"
        assert time.monotonic() - started < WITHIN_S
        stations = {sock.receive_json()["station_id"] for _ in range(3)}
    assert stations == {world["b"]}  # station A's events stopped at once, B's come


def test_a_replan_rescopes_a_caregiver_at_once(
    client: TestClient, settings: Settings, world: dict[str, str]
) -> None:
    """A plan or task event makes every socket re-check its scope without waiting for the next round."""
    from web.api.routers import ws as ws_router

    cg = f"rv-cg-{world['tag']}"
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        users.create_user(conn, username=cg, name="c", role=Role.CAREGIVER, password=PASSWORD,
                          station_ids=[world["a"]], caregiver_id=cg)  # fmt: skip
    headers = _bearer(client, cg)
    calls: list[float] = []
    real = ws_router._scoped_homes

    def counting(ws: Any, p: Any) -> frozenset[str]:
        calls.append(time.monotonic())
        return real(ws, p)

    mp = pytest.MonkeyPatch()
    mp.setattr(ws_router, "_scoped_homes", counting)
    mp.setattr(ws_router, "REVALIDATE_S", 60.0)  # only the plan event can trigger the check here
    try:
        with client.websocket_connect("/ws/live", headers=headers) as sock:
            assert [sock.receive_json()["type"] for _ in range(2)] == ["hello", "live"]
            before = len(calls)
            with psycopg.connect(settings.db().conninfo()) as conn:
                live.publish(conn, topic="plan", subject_id="replan", station_id=world["b"], home_id=None)
                conn.commit()
            started = time.monotonic()
            while len(calls) == before:
                assert time.monotonic() - started < WITHIN_S, "a plan event did not trigger a re-check"
                time.sleep(0.05)
    finally:
        mp.undo()
