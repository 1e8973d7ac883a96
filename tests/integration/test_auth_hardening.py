"""Login and sessions against the real database: throttling that cannot lock a named user or everyone out,
atomic check-and-record, trusted proxies, body limits, admin actions, the absolute session lifetime."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices import registry
from web.api.app import create_app
from web.auth import passwords, throttle, users
from web.auth.errors import NotAuthenticated, Throttled
from web.auth.principal import Role
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.timeout(120)]
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def people(settings: Settings) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    names = {"tag": tag, "station": f"ah-{tag}", "duty": f"duty-{tag}", "admin": f"adm-{tag}",
             "other": f"oth-{tag}"}  # fmt: skip
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        registry.add_station(conn, id=names["station"], name="s", lat=29.7, lon=106.6)
        for key, role in (("duty", Role.STAFF), ("other", Role.STAFF)):
            users.create_user(conn, username=names[key], name=key, role=role, password=PASSWORD,
                              station_ids=[names["station"]])  # fmt: skip
        users.create_user(conn, username=names["admin"], name="a", role=Role.ADMIN, password=PASSWORD)
    return names


def _ip() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"


def _fresh_user(conn: psycopg.Connection, names: dict[str, str]) -> str:
    username = f"u-{names['tag']}-{uuid.uuid4().hex[:6]}"
    users.create_user(conn, username=username, name="u", role=Role.STAFF, password=PASSWORD,
                      station_ids=[names["station"]])  # fmt: skip
    return username


def test_guessing_from_many_addresses_never_refuses_a_clean_client(
    settings: Settings, people: dict[str, str]
) -> None:
    """A distributed guess at the duty officer: each guessing address slows down; the officer gets in."""
    t0 = datetime.now(UTC)
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        victim = _fresh_user(conn, people)
        attackers = [_ip() for _ in range(throttle.ALARM_FAILURES + 5)]
        for ip in attackers:
            with pytest.raises(NotAuthenticated):
                users.authenticate(conn, username=victim, password="guess-1", ip=ip, now=t0)
        # the account is under attack: an address that failed once now waits before any further check
        with pytest.raises(Throttled):
            users.authenticate(conn, username=victim, password=PASSWORD, ip=attackers[0], now=t0)
        # ... but the right password from a client with no failures is never refused
        assert (
            users.authenticate(conn, username=victim, password=PASSWORD, ip=_ip(), now=t0).username == victim
        )
        # and the backoff ends: the guessing address may try again later (and succeeds with the password)
        later = t0 + throttle.delay_after(1, free=1) + timedelta(seconds=1)
        assert users.authenticate(conn, username=victim, password=PASSWORD, ip=attackers[0], now=later)


def test_backoff_grows_and_a_success_clears_it(settings: Settings, people: dict[str, str]) -> None:
    t = datetime.now(UTC)
    ip = _ip()
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        user = _fresh_user(conn, people)
        waits = []
        for _ in range(6):
            try:
                users.authenticate(conn, username=user, password="wrong", ip=ip, now=t)
            except NotAuthenticated:
                continue
            except Throttled as exc:
                waits.append(exc.retry_after)
                t += timedelta(seconds=exc.retry_after)  # wait as told, then guess again
                with pytest.raises(NotAuthenticated):
                    users.authenticate(conn, username=user, password="wrong", ip=ip, now=t)
        assert waits == sorted(waits)
        assert waits[-1] > waits[0]  # exponential
        t += timedelta(minutes=20)
        users.authenticate(conn, username=user, password=PASSWORD, ip=ip, now=t)
        for _ in range(throttle.FREE_FAILURES):  # a success gives the pair its free tries back
            with pytest.raises(NotAuthenticated):
                users.authenticate(conn, username=user, password="wrong", ip=ip, now=t)


def test_check_and_record_are_atomic(settings: Settings, people: dict[str, str]) -> None:
    """Twelve simultaneous guesses from one address: only the free ones reach the password check."""
    now, ip = datetime.now(UTC), _ip()
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        user = _fresh_user(conn, people)
    outcomes: list[str] = []
    barrier = threading.Barrier(12)

    def guess() -> None:
        with psycopg.connect(settings.db().conninfo(), autocommit=True) as c:
            barrier.wait()
            try:
                users.authenticate(c, username=user, password="wrong", ip=ip, now=now)
            except NotAuthenticated:
                outcomes.append("checked")
            except Throttled:
                outcomes.append("throttled")

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert outcomes.count("checked") == throttle.FREE_FAILURES
    assert outcomes.count("throttled") == 12 - throttle.FREE_FAILURES
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM login_attempt WHERE username = %s", (user,)).fetchone()
    assert row == (throttle.FREE_FAILURES,)


def test_hashing_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASH_WAIT_S", 0.1)
    held = [passwords._SLOTS.acquire(timeout=1) for _ in range(passwords.HASH_CONCURRENCY)]
    try:
        assert all(held)
        with pytest.raises(Throttled):
            passwords.verify_password(None, "x")
    finally:
        for _ in held:
            passwords._SLOTS.release()
    assert passwords.verify_password(passwords.hash_password("y" * 12), "x" * 10_000) is False  # no hashing


def test_trusted_proxy_header_only_from_configured_proxies(
    settings: Settings, people: dict[str, str]
) -> None:
    proxied = settings.model_copy(update={"trusted_proxies": "10.250.0.0/16"})

    def login_ip(s: Settings, peer: str, forwarded: str) -> str:
        with TestClient(create_app(s, cookie_secure=False), client=(peer, 4000)) as c:
            r = c.post("/api/auth/login", headers={"X-Forwarded-For": forwarded},
                       json={"username": people["other"], "password": PASSWORD})  # fmt: skip
            assert r.status_code == 200
        with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT ip FROM login_attempt WHERE username = %s ORDER BY id DESC LIMIT 1",
                (people["other"],),
            ).fetchone()
        assert row is not None
        return str(row[0])

    assert login_ip(proxied, "10.250.1.1", "198.51.100.7, 10.250.3.3") == "198.51.100.7"
    assert login_ip(proxied, "192.0.2.9", "198.51.100.8") == "192.0.2.9"  # not a proxy: header ignored
    assert login_ip(settings, "10.250.1.1", "198.51.100.9") == "10.250.1.1"  # default: no proxy trusted


def test_request_bodies_are_limited(settings: Settings) -> None:
    with TestClient(create_app(settings, cookie_secure=False)) as c:
        big = b'{"username": "x", "password": "' + b"a" * (2 * 1024 * 1024) + b'"}'
        r = c.post("/api/auth/login", content=big, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")

        def chunks() -> Iterator[bytes]:
            yield b'{"username": "x", "password": "'
            for _ in range(40):
                yield b"a" * 65536
            yield b'"}'

        r = c.post("/api/auth/login", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        r = c.post("/api/auth/login", json={"username": "x", "password": "p" * 300})
        assert r.status_code == 422  # bounded password length: refused before any hashing


def _login(c: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = c.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    c.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_admin_disables_resets_and_revokes(settings: Settings, people: dict[str, str]) -> None:
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        target = _fresh_user(conn, people)
        target_id = users.authenticate(
            conn, username=target, password=PASSWORD, ip=_ip(), now=datetime.now(UTC)
        ).id
    with TestClient(create_app(settings, cookie_secure=False)) as c:
        admin = _login(c, people["admin"])
        mine = _login(c, target)
        assert c.post(f"/api/users/{target_id}/disable", headers=mine).status_code == 403  # staff cannot
        r = c.post(f"/api/users/{target_id}/revoke-sessions", headers=admin)
        assert (r.status_code, r.json()["revoked"] >= 1) == (200, True)
        assert c.get("/api/me", headers=mine).status_code == 401

        mine = _login(c, target)
        r = c.post(f"/api/users/{target_id}/disable", headers=admin)
        assert r.status_code == 200
        assert r.json()["disabled_at"] is not None
        assert c.get("/api/me", headers=mine).status_code == 401
        r = c.post("/api/auth/login", json={"username": target, "password": PASSWORD})
        assert r.status_code == 401
        listed = {u["username"]: u for u in c.get("/api/users", headers=admin).json()}
        assert listed[target]["disabled_at"] is not None
        assert c.post(f"/api/users/{target_id}/enable", headers=admin).json()["disabled_at"] is None

        mine = _login(c, target)
        r = c.post(f"/api/users/{target_id}/reset-password", headers=admin)
        assert r.status_code == 200
        new = r.json()["password"]
        assert len(new) >= 16
        assert c.get("/api/me", headers=mine).status_code == 401  # sessions ended
        assert c.post("/api/auth/login", json={"username": target, "password": PASSWORD}).status_code == 401
        assert c.get("/api/me", headers=_login(c, target, new)).json()["username"] == target

        me = c.get("/api/me", headers=admin).json()["id"]
        assert c.post(f"/api/users/{me}/disable", headers=admin).status_code == 409  # never yourself
        assert c.post("/api/users/999999999/disable", headers=admin).status_code == 404
        logged = c.get(f"/api/audit?user_id={me}&limit=50", headers=admin).json()
        actions = {r["action"] for r in logged if r["resource"] == f"user/{target_id}"}
        assert actions == {"revoke_sessions", "disable_user", "enable_user", "reset_password"}  # all audited


def test_sessions_have_an_absolute_lifetime(settings: Settings, people: dict[str, str]) -> None:
    clock = {"now": datetime.now(UTC)}
    short = settings.model_copy(update={"session_max_hours": 1.0})
    with TestClient(create_app(short, cookie_secure=False, clock=lambda: clock["now"])) as c:
        r = c.post("/api/auth/login", json={"username": people["other"], "password": PASSWORD})
        login_at = clock["now"]
        refresh = c.cookies.get("ec_refresh") or ""
        c.cookies.clear()
        for minutes in (14, 28, 42, 56):  # refreshed before each access token runs out
            clock["now"] = login_at + timedelta(minutes=minutes)
            r = c.post("/api/auth/refresh", headers={"x-refresh-token": refresh})
            assert r.status_code == 200
            assert datetime.fromisoformat(r.json()["expires_at"]) <= login_at + timedelta(hours=1)
            refresh = c.cookies.get("ec_refresh") or ""
            c.cookies.clear()
        clock["now"] = login_at + timedelta(minutes=61)
        r = c.post("/api/auth/refresh", headers={"x-refresh-token": refresh})
        assert r.status_code == 401  # the refresh window does not slide for ever
