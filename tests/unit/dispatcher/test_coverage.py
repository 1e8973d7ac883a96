from __future__ import annotations

from devices.types import TravelMode
from dispatcher.coverage import Home, best_sites, coverage_report
from dispatcher.domain import Station

STATIONS = [Station(id="a", lat=29.72, lon=106.63, mode=TravelMode.WALK)]
HOMES = [
    Home(id="in1", lat=29.721, lon=106.631),
    Home(id="in2", lat=29.719, lon=106.629),
    Home(id="out1", lat=29.760, lon=106.630),  # ~4.4 km north
    Home(id="out2", lat=29.761, lon=106.631),
    Home(id="out3", lat=29.759, lon=106.629),
    Home(id="lone", lat=29.640, lon=106.630),  # ~9 km south
]
CANDIDATES = [(29.690, 106.630), (29.7601, 106.6301), (29.641, 106.631)]


def test_report_lists_uncovered_homes_and_suggests_the_cluster_site() -> None:
    report = coverage_report(STATIONS, HOMES, CANDIDATES, mode=TravelMode.WALK)
    assert report.homes == 6
    assert report.covered == 2
    assert report.uncovered == ("out1", "out2", "out3", "lone")
    assert report.suggestion is not None
    assert report.suggestion.sites == (1,)  # the candidate in the middle of the three-home cluster
    assert set(report.suggestion.covered) == {"out1", "out2", "out3"}


def test_two_sites_cover_both_clusters_and_ebike_circles_are_larger() -> None:
    outside = [h for h in HOMES if h.id.startswith(("out", "lone"))]
    choice = best_sites(CANDIDATES, outside, count=2)
    assert choice.sites == (1, 2)
    assert len(choice.covered) == 4
    bike = [Station(id="a", lat=29.72, lon=106.63, mode=TravelMode.EBIKE)]
    mid = Home(id="mid", lat=29.738, lon=106.63)  # 2 km: ~35 min on foot, ~11 min by e-bike
    assert coverage_report(bike, [*HOMES[:3], mid]).uncovered == ("out1",)  # 4.4 km: ~23 min by e-bike
    assert coverage_report(STATIONS, [mid]).uncovered == ("mid",)


def test_nothing_to_suggest_without_candidates() -> None:
    report = coverage_report(STATIONS, HOMES)
    assert report.suggestion is None
    assert best_sites([], HOMES).sites == ()
