"""API with the real stack: role matrix (scope in SQL), audit of personal-data reads, auth, error mapping."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices import registry
from devices.types import DeviceKind, Room
from web.api.app import create_app
from web.auth import users
from web.auth.principal import Role
from web.settings import Settings

pytestmark = [pytest.mark.db]
PASSWORD = "correct-horse-battery"
Tokens = dict[str, dict[str, str]]


@dataclass
class World:
    tag: str
    station_a: str
    station_b: str
    home_a: str
    home_b: str
    res_a: str
    res_a2: str
    res_b: str
    dev_a: str
    dev_b: str
    logins: dict[str, str]  # role label -> username


def _build(conn: psycopg.Connection, tag: str) -> World:
    w = World(
        tag=tag, station_a=f"sa-{tag}", station_b=f"sb-{tag}", home_a=f"ha-{tag}", home_b=f"hb-{tag}",
        res_a=f"ra-{tag}", res_a2=f"ra2-{tag}", res_b=f"rb-{tag}", dev_a=f"da-{tag}", dev_b=f"db-{tag}", logins={},
    )  # fmt: skip
    registry.add_station(conn, id=w.station_a, name="A站", lat=29.70, lon=106.60)
    registry.add_station(conn, id=w.station_b, name="B站", lat=29.80, lon=106.70)
    registry.add_home(conn, id=w.home_a, station_id=w.station_a, address="A路1号", lat=29.701, lon=106.601)
    registry.add_home(conn, id=w.home_b, station_id=w.station_b, address="B路2号", lat=29.801, lon=106.701)
    registry.add_resident(conn, id=w.res_a, home_id=w.home_a, name="张阿姨", birth_year=1940, sex="F")
    registry.add_resident(conn, id=w.res_a2, home_id=w.home_a, name="张叔叔", birth_year=1938, sex="M")
    registry.add_resident(conn, id=w.res_b, home_id=w.home_b, name="李爷爷", birth_year=1936, sex="M")
    registry.add_device(conn, id=w.dev_a, home_id=w.home_a, kind=DeviceKind.MOTION, room=Room.BATHROOM)
    registry.add_device(conn, id=w.dev_b, home_id=w.home_b, kind=DeviceKind.MOTION, room=Room.KITCHEN)
    specs = {
        "admin": (Role.ADMIN, [], []),
        "staff_a": (Role.STAFF, [w.station_a], []),
        "staff_b": (Role.STAFF, [w.station_b], []),
        "family_a": (Role.FAMILY, [], [w.res_a]),
        "caregiver_a": (Role.CAREGIVER, [w.station_a], []),
    }
    for label, (role, stations, residents) in specs.items():
        username = f"{label}-{tag}"
        users.create_user(
            conn, username=username, name=label, role=role, password=PASSWORD, station_ids=stations,
            resident_ids=residents,
        )  # fmt: skip
        w.logins[label] = username
    return w


@pytest.fixture(scope="module")
def world(settings: Settings) -> World:
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        return _build(conn, uuid.uuid4().hex[:8])


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cookie_secure=False)) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(client: TestClient, world: World) -> dict[str, dict[str, str]]:
    out = {}
    for label, username in world.logins.items():
        r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        out[label] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    client.cookies.clear()
    return out


def ids(response: object) -> set[str]:
    return {row["id"] for row in response.json()}  # type: ignore[attr-defined]


def test_each_role_sees_exactly_its_residents(client: TestClient, world: World, tokens: Tokens) -> None:
    ours = {world.res_a, world.res_a2, world.res_b}
    admin = client.get("/api/residents", headers=tokens["admin"], params={"limit": 1000})
    assert ours <= ids(admin) or len(admin.json()) == 1000
    for station, expected in (
        (world.station_a, {world.res_a, world.res_a2}),
        (world.station_b, {world.res_b}),
    ):
        r = client.get("/api/residents", headers=tokens["admin"], params={"station_id": station})
        assert ids(r) == expected
    assert ids(client.get("/api/residents", headers=tokens["staff_a"])) == {world.res_a, world.res_a2}
    assert ids(client.get("/api/residents", headers=tokens["staff_b"])) == {world.res_b}
    family = client.get("/api/residents", headers=tokens["family_a"]).json()
    assert [r["id"] for r in family] == [world.res_a]  # not the other resident of the same home
    assert set(family[0]) == {"id", "home_id", "name", "address", "access_notes", "care_notes"}
    assert client.get("/api/residents", headers=tokens["caregiver_a"]).json() == []  # no tasks today


def test_direct_ids_outside_scope_are_not_found(client: TestClient, world: World, tokens: Tokens) -> None:
    a = tokens["staff_a"]
    for path in (f"/api/residents/{world.res_b}", f"/api/homes/{world.home_b}", f"/api/devices/{world.dev_b}",
                 f"/api/homes/{world.home_b}/readings", f"/api/stations/{world.station_b}"):  # fmt: skip
        r = client.get(path, headers=a)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["code"] == "not_found"
        assert "Traceback" not in r.text
    assert client.get(f"/api/residents/{world.res_a}", headers=a).json()["birth_year"] == 1940
    assert client.get(f"/api/residents/{world.res_a2}", headers=tokens["family_a"]).status_code == 404
    assert client.get(f"/api/residents/{world.res_a}", headers=tokens["staff_b"]).status_code == 404
    r = client.post(f"/api/devices/{world.dev_b}/provision", headers=a)
    assert r.status_code == 404


def test_role_level_denials_are_403(client: TestClient, world: World, tokens: Tokens) -> None:
    for label in ("family_a", "caregiver_a"):
        for path in (
            "/api/devices",
            "/api/device-health",
            f"/api/homes/{world.home_a}",
            "/api/audit",
            "/api/users",
        ):
            r = client.get(path, headers=tokens[label])
            assert r.status_code == 403, (label, path)
            assert r.json()["code"] == "forbidden_role"
    assert client.get("/api/audit", headers=tokens["staff_a"]).status_code == 403


def test_lists_are_scoped(client: TestClient, world: World, tokens: Tokens) -> None:
    assert ids(client.get("/api/stations", headers=tokens["staff_a"])) == {world.station_a}
    assert client.get("/api/stations", headers=tokens["family_a"]).json() == []
    assert ids(client.get("/api/homes", headers=tokens["staff_b"])) == {world.home_b}
    assert ids(client.get("/api/homes", headers=tokens["family_a"])) == {world.home_a}
    assert ids(client.get("/api/devices", headers=tokens["staff_a"])) == {world.dev_a}
    health = client.get("/api/device-health", headers=tokens["staff_a"]).json()
    assert [(h["device_id"], h["problem"]) for h in health] == [(world.dev_a, "never_seen")]
    m = client.get("/api/map", headers=tokens["staff_a"]).json()
    assert [h["id"] for h in m["homes"]] == [world.home_a]
    assert [s["id"] for s in m["stations"]] == [world.station_a]
    assert 800 < m["stations"][0]["circle_m"] < 1000  # 4.5 km/h for 15 min over a 1.3 detour


def test_reads_of_personal_data_are_audited(client: TestClient, world: World, tokens: Tokens) -> None:
    before = client.get("/api/audit", headers=tokens["admin"], params={"resident_id": world.res_a2}).json()
    reason = {"X-Access-Reason": quote("follow-up call 回访")}
    assert client.get(f"/api/residents/{world.res_a2}", headers=tokens["staff_a"] | reason).status_code == 200
    client.get(f"/api/homes/{world.home_a}/readings", headers=tokens["staff_a"])
    after = client.get("/api/audit", headers=tokens["admin"], params={"resident_id": world.res_a2}).json()
    new = after[: len(after) - len(before)]
    assert [(e["username"], e["resource"], e["reason"]) for e in new] == [
        (world.logins["staff_a"], f"home/{world.home_a}/readings", "sensor chart"),
        (world.logins["staff_a"], f"resident/{world.res_a2}", "follow-up call 回访"),
    ]
    assert all(e["action"] == "read" and e["role"] == "staff" for e in new)
    # a denied read (out of scope) is not recorded as a read of that person
    client.get(f"/api/residents/{world.res_a2}", headers=tokens["staff_b"])
    again = client.get("/api/audit", headers=tokens["admin"], params={"resident_id": world.res_a2}).json()
    assert len(again) == len(after)


def test_readings_are_time_bucketed(
    client: TestClient, world: World, tokens: Tokens, settings: Settings
) -> None:
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    rows = [(base + timedelta(minutes=m), world.dev_a, m, "temperature", world.home_a, "bathroom",
             f'{{"temperature": {20 + m / 10}}}') for m in (1, 2, 3, 61)]  # fmt: skip
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        conn.cursor().executemany(
            "INSERT INTO reading (time, device_id, seq, kind, home_id, room, data) VALUES (%s,%s,%s,%s,%s,%s,%s)",
            rows,
        )
    r = client.get(f"/api/homes/{world.home_a}/readings", headers=tokens["staff_a"],
                   params={"metric": "temperature", "hours": 6, "bucket_minutes": 60})  # fmt: skip
    points = r.json()["points"]
    assert [(p["events"], round(p["avg"], 3), p["max"]) for p in points] == [(3, 20.2, 20.3), (1, 26.1, 26.1)]
    assert datetime.fromisoformat(points[0]["t"]) == base
    bad = client.get(f"/api/homes/{world.home_a}/readings", headers=tokens["staff_a"], params={"metric": "x"})
    assert (bad.status_code, bad.json()["code"]) == (422, "unknown_metric")


def test_errors_are_mapped(client: TestClient, world: World, tokens: Tokens) -> None:
    r = client.get("/api/residents")
    assert (r.status_code, r.json()["code"]) == (401, "not_authenticated")
    body = {"id": world.station_a, "name": "dup", "lat": 29.7, "lon": 106.6}
    r = client.post("/api/stations", json=body, headers=tokens["admin"])
    assert (r.status_code, r.json()["code"]) == (409, "station_exists")
    r = client.post("/api/stations", json=body | {"lat": 123}, headers=tokens["admin"])
    assert (r.status_code, r.json()["code"]) == (422, "invalid")
    assert "lat" in r.json()["message"]
    r = client.post("/api/stations", json=body | {"id": f"new-{world.tag}"}, headers=tokens["staff_a"])
    assert r.status_code == 403
    r = client.post("/api/homes", headers=tokens["staff_a"], json={
        "id": f"hx-{world.tag}", "station_id": world.station_b, "address": "x", "lat": 1, "lon": 1})  # fmt: skip
    assert r.status_code == 404  # a station outside my scope does not exist for me
    r = client.post("/api/devices", headers=tokens["staff_a"], json={
        "id": "Bad Id", "home_id": world.home_a, "kind": "motion"})  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (422, "invalid_device_id")


def test_staff_registers_and_provisions_a_device(client: TestClient, world: World, tokens: Tokens) -> None:
    dev = f"sos-{world.tag}"
    r = client.post("/api/devices", headers=tokens["staff_a"], json={
        "id": dev, "home_id": world.home_a, "kind": "sos_button", "room": "bedroom"})  # fmt: skip
    assert r.status_code == 201
    assert r.json()["status"] == "registered"
    r = client.post(f"/api/devices/{dev}/provision", headers=tokens["staff_a"])
    assert r.status_code == 200
    assert r.json()["username"] == dev
    assert len(r.json()["password"]) >= 16
    assert client.get(f"/api/devices/{dev}", headers=tokens["staff_a"]).json()["status"] == "provisioned"


def test_cookie_login_refresh_logout_and_csrf(client: TestClient, world: World) -> None:
    r = client.post("/api/auth/login", json={"username": world.logins["staff_a"], "password": PASSWORD})
    set_cookie = r.headers.get_list("set-cookie")
    assert any(c.startswith("ec_access=") and "HttpOnly" in c and "SameSite=strict" in c for c in set_cookie)
    assert any(c.startswith("ec_refresh=") and "Path=/api/auth" in c for c in set_cookie)
    assert client.get("/api/me").json()["username"] == world.logins["staff_a"]
    body = {"id": f"d2-{world.tag}", "home_id": world.home_a, "kind": "door"}
    assert client.post("/api/devices", json=body).json()["code"] == "csrf"
    assert (
        client.post("/api/devices", json=body, headers={"X-Requested-With": "eldercare"}).status_code == 201
    )
    old_refresh = client.cookies.get("ec_refresh")
    assert client.post("/api/auth/refresh").status_code == 200
    assert client.post("/api/auth/refresh", headers={"x-refresh-token": old_refresh or ""}).status_code == 401
    assert client.post("/api/auth/logout", headers={"X-Requested-With": "eldercare"}).status_code == 204
    client.cookies.clear()
    assert client.get("/api/me").status_code == 401


def test_login_is_throttled(settings: Settings, world: World) -> None:
    """Per (user, address) with backoff: the guesser waits; the user elsewhere and others behind the same
    address are never locked out (more in test_auth_hardening.py)."""
    ip = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    with TestClient(create_app(settings, cookie_secure=False), client=(ip, 5000)) as c:
        user = world.logins["caregiver_a"]
        codes = [c.post("/api/auth/login", json={"username": user, "password": "wrong-password"}).status_code
                 for _ in range(3)]  # fmt: skip
        assert codes == [401] * 3
        r = c.post("/api/auth/login", json={"username": user, "password": "wrong-password"})
        assert (r.status_code, r.json()["code"]) == (429, "throttled")
        assert int(r.headers["retry-after"]) > 0
        r = c.post("/api/auth/login", json={"username": user, "password": PASSWORD})
        assert r.status_code == 429  # this pair waits, even with the right password
        # someone else behind the same address is not affected
        r = c.post("/api/auth/login", json={"username": world.logins["staff_b"], "password": PASSWORD})
        assert r.status_code == 200
    with TestClient(create_app(settings, cookie_secure=False)) as other:  # the user from elsewhere gets in
        r = other.post(
            "/api/auth/login", json={"username": world.logins["caregiver_a"], "password": PASSWORD}
        )
        assert r.status_code == 200


def test_production_cookies_are_secure(settings: Settings, world: World) -> None:
    prod = settings.model_copy(update={"env": "production"})
    with TestClient(create_app(prod), base_url="https://testserver") as c:
        r = c.post("/api/auth/login", json={"username": world.logins["admin"], "password": PASSWORD})
        assert all("Secure" in cookie for cookie in r.headers.get_list("set-cookie"))


def test_coverage_of_15_minute_circles(client: TestClient, world: World, tokens: Tokens) -> None:
    far = f"hfar-{world.tag}"
    r = client.post("/api/homes", headers=tokens["staff_a"], json={
        "id": far, "station_id": world.station_a, "address": "远郊", "lat": 29.75, "lon": 106.60})  # fmt: skip
    assert r.status_code == 201
    report = client.get("/api/reports/coverage", headers=tokens["staff_a"], params={"suggest": True}).json()
    assert (report["homes"], report["covered"], report["uncovered"]) == (2, 1, [far])
    assert report["suggestion"] == {"lat": 29.75, "lon": 106.60, "newly_covered": 1}
    csv_text = client.get("/api/reports/coverage", headers=tokens["staff_a"], params={"format": "csv"}).text
    assert csv_text.splitlines() == ["home_id,covered", f"{world.home_a},yes", f"{far},no"]
    assert client.get("/api/reports/coverage", headers=tokens["family_a"]).status_code == 403


def test_ui_is_served_with_security_headers_and_no_cdn(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert "http" not in page.text.replace("http-equiv", "")  # every asset is ours, no CDN
    assert client.get("/docs").status_code == 404  # Swagger UI would pull from a CDN
    schema = client.get("/openapi.json").json()
    assert "/api/residents/{resident_id}" in schema["paths"]
    assert client.get("/m").status_code == 200
    assert client.get("/sw.js").headers["content-type"].startswith("text/javascript")
