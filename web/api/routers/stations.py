"""Stations (community care stations / centres) and the map of homes with 15-minute circles."""

from __future__ import annotations

from fastapi import APIRouter, Response
from psycopg import sql
from psycopg.rows import class_row
from pydantic import BaseModel

from devices import registry
from devices.errors import NotFoundError
from devices.types import TravelMode
from dispatcher.travel import DEFAULT_SPEEDS_KMH
from web.api.deps import Admin, Conn, User
from web.api.models import MapHome, StationCreate, StationRead, problems
from web.api.scope import home_scope, station_scope
from web.auth.principal import Principal

router = APIRouter(tags=["stations"])
CIRCLE_MINUTES = 15
DETOUR = 1.3
_STATION_COLS = sql.SQL("s.id, s.name, s.lat, s.lon, s.travel_mode")


class MapStation(StationRead):
    circle_m: float


class MapRead(BaseModel):
    stations: list[MapStation]
    homes: list[MapHome]


def circle_m(mode: str) -> float:
    """Straight-line radius of the 15-minute circle for a travel mode (speed / detour factor)."""
    return DEFAULT_SPEEDS_KMH[TravelMode(mode)] * 1000 * CIRCLE_MINUTES / 60 / DETOUR


@router.get("/stations", responses=problems(401, 403))
def list_stations(conn: Conn, user: User) -> list[StationRead]:
    """Stations in the caller's scope."""
    with conn.cursor(row_factory=class_row(StationRead)) as cur:
        query = sql.SQL("SELECT {} FROM station s WHERE {} ORDER BY s.id")
        return cur.execute(query.format(_STATION_COLS, station_scope(user))).fetchall()


def check_station(conn: Conn, user: Principal, station_id: str) -> StationRead:
    """The station if it is in the caller's scope, else NotFoundError (no hint that it exists)."""
    with conn.cursor(row_factory=class_row(StationRead)) as cur:
        query = sql.SQL("SELECT {} FROM station s WHERE s.id = %s AND {}")
        row = cur.execute(query.format(_STATION_COLS, station_scope(user)), (station_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no station {station_id!r}")
    return row


@router.get("/stations/{station_id}", responses=problems(401, 404))
def get_station(station_id: str, conn: Conn, user: User) -> StationRead:
    """One station (404 outside the caller's scope)."""
    return check_station(conn, user, station_id)


@router.post("/stations", status_code=201, responses=problems(401, 403, 409, 422))
def create_station(body: StationCreate, conn: Conn, _user: Admin) -> StationRead:
    """Register a station (admins)."""
    registry.add_station(
        conn, id=body.id, name=body.name, lat=body.lat, lon=body.lon, travel_mode=body.travel_mode.value
    )
    return StationRead(**body.model_dump(mode="json"))


_MAP_HOMES = sql.SQL(
    """SELECT coalesce(json_agg(json_build_object('id', h.id, 'station_id', h.station_id, 'lat', h.lat,
              'lon', h.lon, 'status', CASE WHEN p.home_id IS NULL THEN 'ok' ELSE 'device_problem' END)
              ORDER BY h.id), '[]')::text
       FROM home h LEFT JOIN (
           SELECT DISTINCT d.home_id FROM device d JOIN device_health dh ON dh.device_id = d.id
           WHERE dh.battery_low OR dh.reported_status = 'offline') p ON p.home_id = h.id
       WHERE {}"""
)


@router.get("/map", response_model=MapRead, responses=problems(401))
def map_data(conn: Conn, user: User) -> Response:
    """Stations with their circle radius and homes (position and status only, no names) in scope.

    The homes array is built by PostgreSQL (20,000 homes in one row) to keep the dashboard's first load fast.
    """
    row = conn.execute(_MAP_HOMES.format(home_scope(user))).fetchone()
    stations = [
        MapStation(**s.model_dump(), circle_m=round(circle_m(s.travel_mode), 1)).model_dump_json()
        for s in list_stations(conn, user)
    ]
    body = '{"stations":[' + ",".join(stations) + '],"homes":' + (row[0] if row else "[]") + "}"
    return Response(body, media_type="application/json")
