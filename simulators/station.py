"""Simulated homes of one station: deterministic ids, registration in the registry, broker credentials."""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Callable, Sequence
from enum import StrEnum

import psycopg

from devices import provisioning, registry
from devices.errors import NotFoundError
from devices.settings import MqttSettings
from devices.types import Room
from simulators.home import Home, Profile, build_home, neighbourhood_profile

FAMILY = "王李张刘陈杨赵黄周吴"
GIVEN = ("秀英", "桂兰", "玉兰", "建国", "国华", "淑珍", "德明", "凤英", "志强", "美华")
STREETS = ("和平路", "解放路", "人民路", "建设路", "中山路", "新华路")


class Mix(StrEnum):
    """How the homes of a simulated station reach the broker.

    ``neighbourhood``: 40 % all-native homes, 30 % all-zigbee, 30 % mixed (about 11 broker connections a home);
    ``gateway``: the large-scale mix, 85 % of homes with every zigbee-capable device behind their zigbee2mqtt
    gateway, 10 % mixed, 5 % all native (about 5 connections a home; meters and radar fall detectors are
    always native, as those products are Wi-Fi devices).
    """

    NEIGHBOURHOOD = "neighbourhood"
    GATEWAY = "gateway"


def _gateway_profile(index: int, *, seed: int) -> tuple[Profile, tuple[Room, ...]]:
    _, detectors = neighbourhood_profile(index, seed=seed)
    rng = random.Random(f"{seed}|{index}|gateway-mix")
    return rng.choices((Profile.ZIGBEE, Profile.MIXED, Profile.NATIVE), weights=(85, 10, 5))[0], detectors


def home_prefix(station_id: str, seed: int, mix: Mix = Mix.NEIGHBOURHOOD) -> str:
    """Return the home-id prefix for a station and seed, so home ids are unique and stable per (station, seed)."""
    slug = re.sub(r"[^a-z0-9]+", "-", station_id.lower()).strip("-") or "st"
    base = f"{slug}-s{seed}" + ("g" if mix is Mix.GATEWAY else "")
    if len(base) > 33 or not base[0].isalnum():
        digest = hashlib.sha1(f"{station_id}|{seed}".encode()).hexdigest()[:8]
        base = f"{slug[:24].strip('-') or 'st'}-{digest}"
    return f"{base}-h"


def station_homes(
    station_id: str, count: int, *, seed: int, mix: Mix = Mix.NEIGHBOURHOOD, first: int = 0
) -> list[Home]:
    """Build homes ``first``..``first + count - 1`` of a station: ids ``{prefix}00001``..., seeded profiles.

    The gateway mix has its own id prefix (its homes have other devices than the neighbourhood mix's).
    """
    prefix = home_prefix(station_id, seed, mix)
    pick = _gateway_profile if mix is Mix.GATEWAY else neighbourhood_profile
    homes = []
    for index in range(first, first + count):
        profile, detectors = pick(index, seed=seed)
        home_id = f"{prefix}{index + 1:05d}"
        homes.append(build_home(home_id, profile=profile, fall_detector_rooms=detectors, seed=seed))
    return homes


def station_location(conn: psycopg.Connection, station_id: str) -> tuple[float, float]:
    """Return the (lat, lon) of a station or raise NotFoundError."""
    row = conn.execute("SELECT lat, lon FROM station WHERE id = %s", (station_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no station {station_id!r}: add it first (eldercare devices / registry)")
    return float(row[0]), float(row[1])


def _near(rng: random.Random, lat: float, lon: float, radius_m: float = 1000.0) -> tuple[float, float]:
    """A point uniformly within ``radius_m`` of (lat, lon)."""
    r = radius_m * math.sqrt(rng.random())
    angle = rng.uniform(0, 2 * math.pi)
    dlat = r * math.cos(angle) / 111_320
    dlon = r * math.sin(angle) / (111_320 * max(math.cos(math.radians(lat)), 0.01))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _add_devices(conn: psycopg.Connection, home: Home, *, skip: frozenset[str] = frozenset()) -> None:
    # The gateway first: bridged devices refer to it.
    for dev in sorted(home.devices, key=lambda d: d.gateway_id is not None):
        if dev.device_id not in skip:
            registry.add_device(
                conn, id=dev.device_id, home_id=home.home_id, kind=dev.kind, room=dev.room,
                gateway_id=dev.gateway_id, z2m_friendly_name=dev.friendly_name,
            )  # fmt: skip


def _add_home(
    conn: psycopg.Connection, home: Home, *, station_id: str | None, where: tuple[float, float], seed: int
) -> None:
    rng = random.Random(f"{seed}|{home.home_id}|registry")
    lat, lon = _near(rng, *where) if station_id is not None else where
    address = f"{rng.choice(STREETS)}{rng.randint(1, 300)}号{rng.randint(1, 6)}单元"
    registry.add_home(conn, id=home.home_id, station_id=station_id, address=address, lat=lat, lon=lon)
    name = rng.choice(FAMILY) + rng.choice(GIVEN)
    registry.add_resident(
        conn, id=f"{home.home_id}-r1", home_id=home.home_id, name=name,
        birth_year=rng.randint(1932, 1952), sex=rng.choice("FM"),
    )  # fmt: skip
    _add_devices(conn, home)


def register_homes(
    conn: psycopg.Connection,
    *,
    homes: Sequence[Home],
    station_id: str | None,
    where: tuple[float, float],
    seed: int,
    progress: Callable[[int], None] | None = None,
    batch: int = 250,
) -> int:
    """Register the homes, residents and devices that are not in the registry yet (idempotent).

    Args:
        conn: database connection.
        homes: the simulated homes.
        station_id: their station (homes are placed within about 1 km of ``where``), or None.
        where: (lat, lon) of the station, or of the home itself when ``station_id`` is None.
        seed: picks addresses, coordinates and resident names.
        progress: called with the number of homes handled so far, after each batch.
        batch: homes per transaction (statements of a batch are pipelined: one round trip each is too slow
            for 20,000 homes).

    Returns:
        How many homes were created (existing homes only get the devices they lack).
    """
    ids = [h.home_id for h in homes]
    existing = {r[0] for r in conn.execute("SELECT id FROM home WHERE id = ANY(%s)", (ids,)).fetchall()}
    conn.commit()
    known = {
        r[0]
        for r in conn.execute("SELECT id FROM device WHERE home_id = ANY(%s)", (list(existing),)).fetchall()
    }
    conn.commit()
    created = 0
    for lo in range(0, len(homes), batch):
        with conn.pipeline(), conn.transaction():
            for home in homes[lo : lo + batch]:
                if home.home_id not in existing:
                    _add_home(conn, home, station_id=station_id, where=where, seed=seed)
                    created += 1
                elif any(d.device_id not in known for d in home.devices):
                    _add_devices(conn, home, skip=frozenset(known))  # e.g. a second log replayed into a home
        if progress is not None:
            progress(min(lo + batch, len(homes)))
    return created


def publishing_accounts(homes: Sequence[Home]) -> list[str]:
    """The broker accounts the homes publish with: native devices and gateways (bridged devices have none)."""
    return [d.device_id for h in homes for d in h.devices if d.gateway_id is None]


def issue_credentials(
    conn: psycopg.Connection, *, homes: Sequence[Home], broker: MqttSettings
) -> dict[str, str]:
    """(Re-)provision every publishing account of the homes with one broker reload; return id -> password."""
    creds = provisioning.provision_many(conn, device_ids=publishing_accounts(homes), broker=broker)
    return {c.username: c.password for c in creds}
