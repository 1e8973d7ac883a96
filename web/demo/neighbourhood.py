"""The demo neighbourhood: three community eldercare stations in Yubei district, Chongqing, and demo logins."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from devices import registry
from devices.errors import ConflictError
from devices.types import TravelMode


@dataclass(frozen=True, slots=True)
class DemoStation:
    id: str
    name: str
    lat: float
    lon: float
    travel_mode: TravelMode


# Street-level centres of three Yubei sub-districts (approximate public map coordinates).
STATIONS = (
    DemoStation("st-longxi", "龙溪街道社区养老服务站", 29.5947, 106.5261, TravelMode.WALK),
    DemoStation("st-shuanglonghu", "双龙湖街道社区养老服务站", 29.7216, 106.6439, TravelMode.EBIKE),
    DemoStation("st-huixing", "回兴街道社区养老服务站", 29.7005, 106.6117, TravelMode.WALK),
)

# Demo logins only: the demo runs in development mode on loopback; production refuses default secrets.
DEMO_USERS = (
    ("admin", "区民政局管理员 District admin", "admin", [STATION.id for STATION in STATIONS]),
    ("staff-longxi", "龙溪站值班员 Longxi duty staff", "staff", ["st-longxi"]),
)
DEMO_PASSWORD = "demo-password-2026"


def seed_stations(conn: psycopg.Connection) -> int:
    """Create the stations that are missing; returns how many were created."""
    created = 0
    for st in STATIONS:
        try:
            registry.add_station(
                conn, id=st.id, name=st.name, lat=st.lat, lon=st.lon, travel_mode=st.travel_mode
            )
            created += 1
        except ConflictError:
            pass
    conn.commit()
    return created
