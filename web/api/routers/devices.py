"""Devices (admins and staff): list with health, register, provision broker credentials, health problems."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from psycopg import sql
from psycopg.rows import class_row

from devices import provisioning, registry
from devices.errors import NotFoundError
from devices.types import Room
from web.api import audit
from web.api.deps import Conn, Staff
from web.api.models import CredentialsRead, DeviceCreate, DeviceRead, HealthRead, problems
from web.api.routers.homes import check_home
from web.api.scope import home_scope
from web.auth.principal import Principal

router = APIRouter(tags=["devices"])

_DEVICES = sql.SQL(
    """SELECT d.id, d.home_id, d.kind, d.room, d.gateway_id, d.z2m_friendly_name, d.status, d.provisioned_at,
              dh.last_seen, dh.reported_status, dh.battery, dh.battery_low
       FROM device d LEFT JOIN home h ON h.id = d.home_id LEFT JOIN device_health dh ON dh.device_id = d.id
       WHERE {} AND (%(home)s::text IS NULL OR d.home_id = %(home)s) AND (%(id)s::text IS NULL OR d.id = %(id)s)
       ORDER BY d.home_id, d.id LIMIT %(lim)s OFFSET %(off)s"""
)


def _devices(conn: Conn, user: Principal, **params: object) -> list[DeviceRead]:
    values = {"home": None, "id": None, "lim": 1000, "off": 0} | params
    with conn.cursor(row_factory=class_row(DeviceRead)) as cur:
        return cur.execute(_DEVICES.format(home_scope(user)), values).fetchall()


def _audit(
    request: Request,
    conn: Conn,
    user: Principal,
    resource: str,
    homes: list[str | None],
    why: str,
    *,
    action: str = "read",
) -> None:
    residents = audit.residents_of_homes(conn, (h for h in homes if h is not None))
    audit.read(request, conn, user, resource, residents, why, action=action)


def check_device(conn: Conn, user: Principal, device_id: str) -> DeviceRead:
    """The device if its home is in the caller's scope, else NotFoundError."""
    rows = _devices(conn, user, id=device_id)
    if not rows:
        raise NotFoundError(f"no device {device_id!r}")
    return rows[0]


@router.get("/devices", responses=problems(401, 403))
def list_devices(
    request: Request,
    conn: Conn,
    user: Staff,
    home_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DeviceRead]:
    """Devices in scope with their last-seen time, reported status and battery (audited: a bathroom sensor
    in a home says something about who lives there)."""
    rows = _devices(conn, user, home=home_id, lim=limit, off=offset)
    _audit(request, conn, user, "devices", [d.home_id for d in rows], "device list")
    return rows


@router.get("/devices/{device_id}", responses=problems(401, 403, 404))
def get_device(device_id: str, request: Request, conn: Conn, user: Staff) -> DeviceRead:
    """One device (404 outside the caller's scope; audited)."""
    device = check_device(conn, user, device_id)
    _audit(request, conn, user, f"device/{device_id}", [device.home_id], "device")
    return device


@router.post("/devices", status_code=201, responses=problems(401, 403, 404, 409, 422))
def create_device(body: DeviceCreate, request: Request, conn: Conn, user: Staff) -> DeviceRead:
    """Register a device in a home of the caller's scope (422 for an id reserved for platform accounts, ``svc-*``)."""
    check_home(conn, user, body.home_id)
    if body.gateway_id is not None:
        check_device(conn, user, body.gateway_id)
    registry.add_device(
        conn, id=body.id, home_id=body.home_id, kind=body.kind, room=Room(body.room) if body.room else None,
        gateway_id=body.gateway_id, z2m_friendly_name=body.z2m_friendly_name,
    )  # fmt: skip
    device = check_device(conn, user, body.id)
    _audit(request, conn, user, f"device/{body.id}", [device.home_id], "device registered", action="write")
    return device


@router.post("/devices/{device_id}/provision", responses=problems(401, 403, 404, 422, 503))
def provision_device(device_id: str, request: Request, conn: Conn, user: Staff) -> CredentialsRead:
    """Create (or replace) the device's broker credentials; the password is shown this once.

    503 when the broker did not take the new account in time: nothing was changed (the device keeps its
    previous credentials), retry later."""
    check_device(conn, user, device_id)
    creds = provisioning.provision(conn, device_id=device_id, broker=request.app.state.settings.mqtt())
    return CredentialsRead(device_id=creds.device_id, username=creds.username, password=creds.password)


_HEALTH = sql.SQL(
    """SELECT d.id AS device_id, d.home_id, d.kind, d.room, dh.last_seen, dh.reported_status, dh.battery,
              dh.battery_low,
              CASE WHEN dh.reported_status = 'offline' THEN 'offline' WHEN dh.battery_low THEN 'battery_low'
                   WHEN dh.device_id IS NULL THEN 'never_seen' END AS problem
       FROM device d JOIN home h ON h.id = d.home_id LEFT JOIN device_health dh ON dh.device_id = d.id
       WHERE {} AND d.status <> 'revoked' AND (%(home)s::text IS NULL OR d.home_id = %(home)s)
         AND (%(st)s::text IS NULL OR h.station_id = %(st)s)
         AND (NOT %(only)s OR dh.device_id IS NULL OR dh.reported_status = 'offline' OR dh.battery_low)
       ORDER BY d.home_id, d.id LIMIT %(lim)s"""
)


@router.get("/device-health", responses=problems(401, 403))
def device_health(
    request: Request,
    conn: Conn,
    user: Staff,
    home_id: str | None = None,
    station_id: str | None = None,
    problems_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[HealthRead]:
    """Device health in scope; ``problems_only`` keeps offline, low-battery and never-seen devices."""
    params = {"home": home_id, "st": station_id, "only": problems_only, "lim": limit}
    with conn.cursor(row_factory=class_row(HealthRead)) as cur:
        rows = cur.execute(_HEALTH.format(home_scope(user)), params).fetchall()
    _audit(request, conn, user, "device-health", [h.home_id for h in rows], "device health")
    return rows
