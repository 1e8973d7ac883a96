"""Homes: list, detail (with residents and device summary, audited), create, and time-bucketed sensor series."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from psycopg import sql
from psycopg.rows import class_row, dict_row

from devices import registry
from devices.errors import NotFoundError, ValidationFailed
from devices.types import METRIC_TYPES
from web.api import audit
from web.api.deps import Conn, Staff, User, access_reason, client_ip, now
from web.api.models import HomeCreate, HomeDetail, HomeRead, ResidentRead, Series, SeriesPoint, problems
from web.api.scope import home_scope, station_scope
from web.auth.principal import Principal

router = APIRouter(tags=["homes"])
_COLS = sql.SQL("h.id, h.station_id, h.address, h.lat, h.lon, h.access_notes")


def check_home(conn: Conn, user: Principal, home_id: str) -> HomeRead:
    """The home if it is in the caller's scope, else NotFoundError (no hint that it exists)."""
    with conn.cursor(row_factory=class_row(HomeRead)) as cur:
        query = sql.SQL("SELECT {} FROM home h WHERE h.id = %s AND {}").format(_COLS, home_scope(user))
        row = cur.execute(query, (home_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no home {home_id!r}")
    return row


def _audit(request: Request, conn: Conn, user: Principal, resource: str, ids: list[str], why: str) -> None:
    audit.record(
        conn, principal=user, action="read", resource=resource, resident_ids=ids,
        reason=access_reason(request, why), ip=client_ip(request),
    )  # fmt: skip


def _resident_ids(conn: Conn, home_ids: list[str]) -> list[str]:
    rows = conn.execute("SELECT id FROM resident WHERE home_id = ANY(%s)", (home_ids,)).fetchall()
    return [r[0] for r in rows]


@router.get("/homes", responses=problems(401))
def list_homes(
    request: Request,
    conn: Conn,
    user: User,
    station_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[HomeRead]:
    """Homes in scope with address and access notes (audited against their residents)."""
    query = sql.SQL(
        "SELECT {} FROM home h WHERE {} AND (%s::text IS NULL OR h.station_id = %s) ORDER BY h.id LIMIT %s OFFSET %s"
    ).format(_COLS, home_scope(user))
    with conn.cursor(row_factory=class_row(HomeRead)) as cur:
        homes = cur.execute(query, (station_id, station_id, limit, offset)).fetchall()
    _audit(request, conn, user, "homes", _resident_ids(conn, [h.id for h in homes]), "home list")
    return homes


@router.get("/homes/{home_id}", responses=problems(401, 404))
def get_home(home_id: str, request: Request, conn: Conn, user: Staff) -> HomeDetail:
    """A home with its residents and a device-health summary (admins and staff; audited)."""
    home = check_home(conn, user, home_id)
    with conn.cursor(row_factory=dict_row) as cur:
        residents = cur.execute(
            "SELECT r.id, r.home_id, r.name, h.address, h.access_notes, r.care_notes, h.station_id, r.birth_year, "
            "r.sex, r.living_alone, r.emergency_contacts, r.presence FROM resident r JOIN home h ON h.id = r.home_id "
            "WHERE r.home_id = %s ORDER BY r.id",
            (home_id,),
        ).fetchall()
        counts = cur.execute(
            "SELECT count(*) AS n, count(*) FILTER (WHERE dh.battery_low OR dh.reported_status = 'offline') AS bad "
            "FROM device d LEFT JOIN device_health dh ON dh.device_id = d.id WHERE d.home_id = %s",
            (home_id,),
        ).fetchone()
    assert counts is not None
    _audit(request, conn, user, f"home/{home_id}", [r["id"] for r in residents], "home page")
    return HomeDetail(
        **home.model_dump(), residents=[ResidentRead(**r) for r in residents],
        devices=counts["n"], devices_with_problems=counts["bad"],
    )  # fmt: skip


@router.post("/homes", status_code=201, responses=problems(401, 403, 404, 409, 422))
def create_home(body: HomeCreate, conn: Conn, user: Staff) -> HomeRead:
    """Register a home in a station of the caller's scope."""
    query = sql.SQL("SELECT 1 FROM station s WHERE s.id = %s AND {}").format(station_scope(user))
    if conn.execute(query, (body.station_id,)).fetchone() is None:
        raise NotFoundError(f"no station {body.station_id!r}")
    registry.add_home(conn, **body.model_dump())
    return HomeRead(**body.model_dump())


_SERIES = sql.SQL(
    """SELECT time_bucket(make_interval(mins => %(b)s), time) AS t, count(*) AS events,
              count(*) FILTER (WHERE data->>%(m)s = 'true') AS true_count,
              avg((data->>%(m)s)::double precision) FILTER (WHERE jsonb_typeof(data->%(m)s) = 'number') AS avg,
              min((data->>%(m)s)::double precision) FILTER (WHERE jsonb_typeof(data->%(m)s) = 'number') AS min,
              max((data->>%(m)s)::double precision) FILTER (WHERE jsonb_typeof(data->%(m)s) = 'number') AS max
       FROM reading WHERE home_id = %(h)s AND time >= %(since)s AND time < %(until)s AND data ? %(m)s
         AND (%(room)s::text IS NULL OR room = %(room)s) AND (%(dev)s::text IS NULL OR device_id = %(dev)s)
       GROUP BY 1 ORDER BY 1"""
)


@router.get("/homes/{home_id}/readings", responses=problems(401, 403, 404, 422))
def readings(
    home_id: str,
    request: Request,
    conn: Conn,
    user: Staff,
    metric: Annotated[str, Query(max_length=40)] = "occupancy",
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24 * 7,
    bucket_minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60,
    room: str | None = None,
    device_id: str | None = None,
) -> Series:
    """A home's readings of one metric in time buckets: event counts, true counts, numeric avg/min/max."""
    check_home(conn, user, home_id)
    if metric not in METRIC_TYPES:
        raise ValidationFailed(f"unknown metric {metric!r}", code="unknown_metric")
    until = now(request)
    params = {"b": bucket_minutes, "m": metric, "h": home_id, "since": until - timedelta(hours=hours),
              "until": until, "room": room, "dev": device_id}  # fmt: skip
    with conn.cursor(row_factory=class_row(SeriesPoint)) as cur:
        points = cur.execute(_SERIES, params).fetchall()
    _audit(request, conn, user, f"home/{home_id}/readings", _resident_ids(conn, [home_id]), "sensor chart")
    return Series(
        home_id=home_id, metric=metric, bucket_minutes=bucket_minutes, room=room, device_id=device_id,
        points=points,
    )  # fmt: skip
