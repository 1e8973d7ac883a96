"""Travel-time providers (great-circle × detour, OSRM /table) and a matrix cache, in whole minutes."""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from devices.types import TravelMode
from dispatcher.errors import TravelTimeError

LatLon = tuple[float, float]
Matrix = list[list[int]]

EARTH_RADIUS_KM = 6371.0088
DEFAULT_SPEEDS_KMH: dict[TravelMode, float] = {TravelMode.WALK: 4.5, TravelMode.EBIKE: 15.0}


class TravelTimeProvider(Protocol):
    """Gives travel minutes (rounded up) from each origin to each destination for a mode."""

    def table(self, origins: Sequence[LatLon], destinations: Sequence[LatLon], mode: TravelMode) -> Matrix:
        """Return ``len(origins)`` rows of ``len(destinations)`` whole minutes."""
        ...


def haversine_km(a: LatLon, b: LatLon) -> float:
    """Great-circle distance in kilometres between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class HaversineProvider:
    """Great-circle distance × a detour factor at the mode's speed (the default provider)."""

    def __init__(self, *, detour: float = 1.3, speeds_kmh: dict[TravelMode, float] | None = None) -> None:
        """Set the detour factor and per-mode speeds (km/h)."""
        self.detour = detour
        self.speeds_kmh = dict(DEFAULT_SPEEDS_KMH if speeds_kmh is None else speeds_kmh)

    def table(self, origins: Sequence[LatLon], destinations: Sequence[LatLon], mode: TravelMode) -> Matrix:
        """Return whole minutes (ceil) for every origin/destination pair; 0 for identical points."""
        if not origins or not destinations:
            return [[] for _ in origins]
        o = np.radians(np.asarray(origins, dtype=float))[:, None, :]
        d = np.radians(np.asarray(destinations, dtype=float))[None, :, :]
        dlat, dlon = d[..., 0] - o[..., 0], d[..., 1] - o[..., 1]
        h = np.sin(dlat / 2) ** 2 + np.cos(o[..., 0]) * np.cos(d[..., 0]) * np.sin(dlon / 2) ** 2
        km = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
        minutes = np.ceil(km * self.detour / self.speeds_kmh[mode] * 60.0 - 1e-9)
        result: Matrix = minutes.astype(np.int64).tolist()
        return result


class OsrmTableProvider:
    """An OSRM-compatible ``/table/v1/{profile}`` client (used only when a URL is configured)."""

    def __init__(
        self, base_url: str, *, profiles: dict[TravelMode, str] | None = None, timeout_s: float = 10.0
    ) -> None:
        """Point at an OSRM server; ``profiles`` maps modes to OSRM profiles (walk→foot, ebike→bike)."""
        if not base_url.startswith(("http://", "https://")):
            raise TravelTimeError(f"OSRM url must be http(s): {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.profiles = profiles or {TravelMode.WALK: "foot", TravelMode.EBIKE: "bike"}
        self.timeout_s = timeout_s

    def table(self, origins: Sequence[LatLon], destinations: Sequence[LatLon], mode: TravelMode) -> Matrix:
        """Query the server once and return whole minutes (ceil of OSRM's seconds)."""
        points = [*origins, *destinations]
        coords = ";".join(f"{lon:.6f},{lat:.6f}" for lat, lon in points)
        query = urllib.parse.urlencode(
            {
                "sources": ";".join(str(i) for i in range(len(origins))),
                "destinations": ";".join(str(len(origins) + j) for j in range(len(destinations))),
                "annotations": "duration",
            }
        )
        url = f"{self.base_url}/table/v1/{self.profiles[mode]}/{coords}?{query}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:
                body = json.loads(resp.read().decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise TravelTimeError(f"OSRM table request failed: {exc}") from exc
        return _parse_osrm(body, len(origins), len(destinations))


def _parse_osrm(body: object, n_rows: int, n_cols: int) -> Matrix:
    if not isinstance(body, dict) or body.get("code") != "Ok":
        code = body.get("code") if isinstance(body, dict) else None
        raise TravelTimeError(f"OSRM answered {code!r}")
    rows = body.get("durations")
    if not isinstance(rows, list) or len(rows) != n_rows or any(len(r) != n_cols for r in rows):
        raise TravelTimeError("OSRM durations have the wrong shape")
    if any(v is None for r in rows for v in r):
        raise TravelTimeError("OSRM found no route between some points")
    return [[math.ceil(float(v) / 60.0 - 1e-9) for v in r] for r in rows]


class CachedProvider:
    """An LRU cache of square matrices keyed by (mode, points); extends a cached prefix by new points only."""

    def __init__(self, inner: TravelTimeProvider, *, maxsize: int = 32) -> None:
        """Wrap ``inner``; keep at most ``maxsize`` matrices."""
        self.inner = inner
        self.maxsize = maxsize
        self._cache: OrderedDict[tuple[TravelMode, tuple[LatLon, ...]], Matrix] = OrderedDict()
        self.inner_calls = 0

    def table(self, origins: Sequence[LatLon], destinations: Sequence[LatLon], mode: TravelMode) -> Matrix:
        """Pass rectangular requests through (uncached)."""
        self.inner_calls += 1
        return self.inner.table(origins, destinations, mode)

    def matrix(self, points: Sequence[LatLon], mode: TravelMode) -> Matrix:
        """Return the square matrix over ``points``, reusing the longest cached prefix."""
        key = (mode, tuple(points))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        result = self._extend_prefix(key) or self.table(points, points, mode)
        self._cache[key] = result
        if len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)
        return result

    def _extend_prefix(self, key: tuple[TravelMode, tuple[LatLon, ...]]) -> Matrix | None:
        mode, points = key
        best: tuple[LatLon, ...] | None = None
        for m, cached in self._cache:
            if m == mode and len(cached) < len(points) and points[: len(cached)] == cached:
                best = cached if best is None or len(cached) > len(best) else best
        if best is None:
            return None
        old, new = list(best), list(points[len(best) :])
        base = self._cache[(mode, best)]
        right = self.table(old, new, mode)
        bottom = self.table(new, list(points), mode)
        return [base[i] + right[i] for i in range(len(old))] + bottom


def matrix(provider: TravelTimeProvider, points: Sequence[LatLon], mode: TravelMode) -> Matrix:
    """Square matrix from any provider, through its cache when it has one."""
    if isinstance(provider, CachedProvider):
        return provider.matrix(points, mode)
    return provider.table(points, points, mode)
