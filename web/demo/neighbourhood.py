"""The demo neighbourhood: three community eldercare stations in Yubei district, Chongqing, and demo logins."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

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

# Demo logins only: the demo runs in development mode on loopback. Their password is random per stack
# (``demo_password``), printed when it is made and kept only in the stack directory (mode 600).
DEMO_USERS = (
    ("admin", "区民政局管理员 District admin", "admin", [STATION.id for STATION in STATIONS]),
    ("staff-longxi", "龙溪站值班员 Longxi duty staff", "staff", ["st-longxi"]),
)
PASSWORD_FILE = "demo-password"


def demo_password(stack_dir: Path) -> tuple[str, bool]:
    """The stack's demo password, made on first use; returns it and whether it was made just now."""
    path = stack_dir / PASSWORD_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip(), False
    password = secrets.token_urlsafe(12)
    stack_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(password + "\n")
    return password, True


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
