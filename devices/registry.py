"""Registry SQL: stations, homes, residents and devices. Functions take ``conn`` first, then keyword-only args."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from devices.accounts import check_not_reserved
from devices.errors import ConflictError, NotFoundError, ValidationFailed
from devices.types import DEVICE_ID_RE, DeviceKind, Room


@dataclass(frozen=True)
class DeviceRow:
    id: str
    home_id: str | None
    kind: str
    room: str | None
    gateway_id: str | None
    z2m_friendly_name: str | None
    status: str
    provisioned_at: datetime | None
    revoked_at: datetime | None


def _insert(conn: psycopg.Connection, table: str, values: dict[str, Any]) -> None:
    cols = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    try:
        with conn.transaction():
            conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(values.values()))
    except psycopg.errors.UniqueViolation as exc:
        raise ConflictError(f"{table} {values.get('id')!r} already exists", code=f"{table}_exists") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        detail = exc.diag.message_detail or str(exc)
        raise ValidationFailed(f"{table}: {detail}", code="unknown_reference") from exc
    except psycopg.errors.CheckViolation as exc:
        raise ValidationFailed(f"{table}: {exc.diag.message_primary}", code="invalid") from exc


def add_station(
    conn: psycopg.Connection, *, id: str, name: str, lat: float, lon: float, travel_mode: str = "walk"
) -> None:
    _insert(conn, "station", {"id": id, "name": name, "lat": lat, "lon": lon, "travel_mode": travel_mode})


def add_home(
    conn: psycopg.Connection,
    *,
    id: str,
    station_id: str | None,
    address: str,
    lat: float,
    lon: float,
    access_notes: str = "",
) -> None:
    values = {"id": id, "station_id": station_id, "address": address, "lat": lat, "lon": lon}
    _insert(conn, "home", values | {"access_notes": access_notes})


def add_resident(
    conn: psycopg.Connection,
    *,
    id: str,
    home_id: str,
    name: str,
    birth_year: int | None = None,
    sex: str | None = None,
    living_alone: bool = True,
    emergency_contacts: list[dict[str, Any]] | None = None,
    care_notes: str = "",
) -> None:
    _insert(
        conn,
        "resident",
        {
            "id": id, "home_id": home_id, "name": name, "birth_year": birth_year, "sex": sex,
            "living_alone": living_alone, "emergency_contacts": json.dumps(emergency_contacts or []),
            "care_notes": care_notes,
        },
    )  # fmt: skip


def add_device(
    conn: psycopg.Connection,
    *,
    id: str,
    home_id: str | None,
    kind: DeviceKind,
    room: Room | None = None,
    gateway_id: str | None = None,
    z2m_friendly_name: str | None = None,
) -> None:
    """Register a device or gateway; its id is also its broker username.

    Raises:
        ValidationFailed: a malformed or reserved (``svc-*``) id, a half-given bridge, an unknown gateway.
        ConflictError: the id exists.
    """
    check_not_reserved(id, what="device id")
    if not DEVICE_ID_RE.match(id):
        raise ValidationFailed(
            f"device id {id!r} must be 3-64 characters of a-z, 0-9, '-' or '_' (it is the broker username)",
            code="invalid_device_id",
        )
    if (gateway_id is None) != (z2m_friendly_name is None):
        raise ValidationFailed("a bridged device needs both --gateway and --z2m-name", code="invalid_bridge")
    if gateway_id is not None:
        gw = conn.execute("SELECT kind FROM device WHERE id = %s", (gateway_id,)).fetchone()
        if gw is None or gw[0] != DeviceKind.GATEWAY.value:
            raise ValidationFailed(f"{gateway_id!r} is not a registered gateway", code="unknown_gateway")
    _insert(
        conn,
        "device",
        {
            "id": id, "home_id": home_id, "kind": kind.value, "room": room.value if room else None,
            "gateway_id": gateway_id, "z2m_friendly_name": z2m_friendly_name,
        },
    )  # fmt: skip


def list_devices(conn: psycopg.Connection, *, home_id: str | None = None) -> list[DeviceRow]:
    with conn.cursor(row_factory=class_row(DeviceRow)) as cur:
        cur.execute(
            "SELECT id, home_id, kind, room, gateway_id, z2m_friendly_name, status, provisioned_at, revoked_at "
            "FROM device WHERE %(home)s::text IS NULL OR home_id = %(home)s ORDER BY home_id, id",
            {"home": home_id},
        )
        return cur.fetchall()


def get_device(conn: psycopg.Connection, *, device_id: str) -> DeviceRow:
    with conn.cursor(row_factory=class_row(DeviceRow)) as cur:
        cur.execute(
            "SELECT id, home_id, kind, room, gateway_id, z2m_friendly_name, status, provisioned_at, revoked_at "
            "FROM device WHERE id = %s",
            (device_id,),
        )
        row = cur.fetchone()
    if row is None:
        raise NotFoundError(f"no device {device_id!r}")
    return row
