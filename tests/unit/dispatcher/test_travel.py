from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from devices.types import TravelMode
from dispatcher.errors import TravelTimeError
from dispatcher.travel import (
    CachedProvider,
    HaversineProvider,
    LatLon,
    Matrix,
    OsrmTableProvider,
    haversine_km,
    matrix,
)


def test_haversine_km_one_degree_of_latitude() -> None:
    assert haversine_km((0.0, 0.0), (1.0, 0.0)) == pytest.approx(111.195, abs=0.01)
    assert haversine_km((29.72, 106.63), (29.72, 106.63)) == 0.0


def test_minutes_are_distance_times_detour_at_mode_speed() -> None:
    p = HaversineProvider(detour=1.3)
    a, b = (29.72, 106.63), (29.73, 106.63)  # 1.112 km apart
    km = haversine_km(a, b) * 1.3
    walk = p.table([a], [b], TravelMode.WALK)[0][0]
    bike = p.table([a], [b], TravelMode.EBIKE)[0][0]
    assert walk == 20  # ceil(1.4455 km / 4.5 km/h * 60 = 19.27)
    assert bike == 6  # ceil(1.4455 / 15 * 60 = 5.78)
    assert walk - 1 < km / 4.5 * 60 <= walk
    assert p.table([a, b], [a, b], TravelMode.WALK) == [[0, 20], [20, 0]]
    assert p.table([], [b], TravelMode.WALK) == []


class _Counting:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.inner = HaversineProvider()

    def table(self, origins: Sequence[LatLon], destinations: Sequence[LatLon], mode: TravelMode) -> Matrix:
        self.calls.append((len(origins), len(destinations)))
        return self.inner.table(origins, destinations, mode)


def test_cache_reuses_matrices_and_extends_prefixes() -> None:
    inner = _Counting()
    cache = CachedProvider(inner)
    pts = [(29.72, 106.63), (29.73, 106.63), (29.72, 106.64)]
    first = matrix(cache, pts, TravelMode.WALK)
    assert matrix(cache, pts, TravelMode.WALK) == first
    assert inner.calls == [(3, 3)]
    more = [*pts, (29.725, 106.635)]
    full = matrix(cache, more, TravelMode.WALK)
    assert inner.calls[1:] == [(3, 1), (1, 4)]  # only the new point is computed
    assert full == HaversineProvider().table(more, more, TravelMode.WALK)
    matrix(cache, pts, TravelMode.EBIKE)
    assert len(inner.calls) == 4  # another mode is another matrix


class _Osrm(BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []
    body: ClassVar[dict[str, object]] = {}

    def do_GET(self) -> None:
        _Osrm.paths.append(self.path)
        data = json.dumps(_Osrm.body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def osrm() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Osrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Osrm.paths.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_osrm_table_is_parsed_to_whole_minutes(osrm: str) -> None:
    _Osrm.body = {"code": "Ok", "durations": [[0.0, 61.0, 600.0], [59.9, 0.0, 120.0]]}
    p = OsrmTableProvider(osrm + "/")
    got = p.table(
        [(29.72, 106.63), (29.73, 106.64)],
        [(29.72, 106.63), (29.73, 106.64), (29.74, 106.65)],
        TravelMode.EBIKE,
    )
    assert got == [[0, 2, 10], [1, 0, 2]]
    path = _Osrm.paths[0]
    assert path.startswith("/table/v1/bike/106.630000,29.720000;106.640000,29.730000;106.630000,29.720000;")
    assert "sources=0%3B1" in path
    assert "destinations=2%3B3%3B4" in path


@pytest.mark.parametrize(
    "body",
    [
        {"code": "InvalidQuery"},
        {"code": "Ok", "durations": [[1.0]]},
        {"code": "Ok", "durations": [[None, 1.0]]},
    ],
)
def test_osrm_errors_raise_travel_time_error(osrm: str, body: dict[str, object]) -> None:
    _Osrm.body = body
    with pytest.raises(TravelTimeError):
        OsrmTableProvider(osrm).table([(29.72, 106.63)], [(29.72, 106.63), (29.73, 106.64)], TravelMode.WALK)


def test_osrm_bad_url_and_unreachable_server() -> None:
    with pytest.raises(TravelTimeError):
        OsrmTableProvider("ftp://x")
    with pytest.raises(TravelTimeError):
        OsrmTableProvider("http://127.0.0.1:9", timeout_s=1).table(
            [(0.0, 0.0)], [(0.0, 0.0)], TravelMode.WALK
        )
