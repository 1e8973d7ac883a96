"""15-minute circle coverage: homes outside every circle, and the best new station site (CP-SAT max coverage)."""

from __future__ import annotations

from collections.abc import Sequence

from ortools.sat.python import cp_model
from pydantic import BaseModel, ConfigDict

from devices.types import TravelMode
from dispatcher.domain import Station
from dispatcher.travel import CachedProvider, HaversineProvider, LatLon, TravelTimeProvider


class Home(BaseModel):
    """A home to cover."""

    model_config = ConfigDict(frozen=True)
    id: str
    lat: float
    lon: float


class SiteChoice(BaseModel):
    """The chosen candidate sites and the homes they newly cover."""

    model_config = ConfigDict(frozen=True)
    sites: tuple[int, ...]
    covered: tuple[str, ...]
    status: str


class CoverageReport(BaseModel):
    """Homes outside every circle and, when candidates were given, the best new site(s)."""

    model_config = ConfigDict(frozen=True)
    homes: int
    covered: int
    uncovered: tuple[str, ...]
    suggestion: SiteChoice | None = None


def uncovered_homes(
    stations: Sequence[Station], homes: Sequence[Home], travel: TravelTimeProvider | None = None
) -> list[str]:
    """Ids of homes outside every station's circle (measured by each station's mode)."""
    provider = travel or CachedProvider(HaversineProvider())
    points = [(h.lat, h.lon) for h in homes]
    inside: set[str] = set()
    for s in stations:
        row = provider.table([(s.lat, s.lon)], points, s.mode)[0] if points else []
        inside |= {h.id for h, m in zip(homes, row, strict=True) if m <= s.circle_minutes}
    return [h.id for h in homes if h.id not in inside]


def best_sites(
    candidates: Sequence[LatLon],
    homes: Sequence[Home],
    *,
    mode: TravelMode = TravelMode.WALK,
    circle_minutes: int = 15,
    count: int = 1,
    travel: TravelTimeProvider | None = None,
    time_limit_s: float = 10.0,
) -> SiteChoice:
    """Maximum-coverage facility location: open ``count`` candidate sites covering the most ``homes``.

    Args:
        candidates: Candidate (lat, lon) points.
        homes: Homes to cover (typically the uncovered ones).
        mode: Travel mode of the new station.
        circle_minutes: Circle size in minutes.
        count: How many sites to open.
        travel: Travel-time provider.
        time_limit_s: CP-SAT time limit.

    Returns:
        The chosen candidate indices and the homes they cover, with the CP-SAT status name.
    """
    provider = travel or CachedProvider(HaversineProvider())
    if not candidates or not homes:
        return SiteChoice(sites=(), covered=(), status="OPTIMAL")
    minutes = provider.table(list(candidates), [(h.lat, h.lon) for h in homes], mode)
    model = cp_model.CpModel()
    open_ = [model.new_bool_var(f"open_{j}") for j in range(len(candidates))]
    cover = [model.new_bool_var(f"cover_{h.id}") for h in homes]
    for i in range(len(homes)):
        reach = [open_[j] for j in range(len(candidates)) if minutes[j][i] <= circle_minutes]
        model.add(cover[i] <= sum(reach))
    model.add(sum(open_) <= count)
    model.maximize(sum(cover))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 1
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return SiteChoice(sites=(), covered=(), status=solver.status_name(status))
    sites = tuple(j for j, v in enumerate(open_) if solver.value(v))
    covered = tuple(h.id for h, v in zip(homes, cover, strict=True) if solver.value(v))
    return SiteChoice(sites=sites, covered=covered, status=solver.status_name(status))


def coverage_report(
    stations: Sequence[Station],
    homes: Sequence[Home],
    candidates: Sequence[LatLon] = (),
    *,
    mode: TravelMode = TravelMode.WALK,
    travel: TravelTimeProvider | None = None,
) -> CoverageReport:
    """Coverage of the current circles plus the best candidate site for the uncovered homes."""
    outside = uncovered_homes(stations, homes, travel)
    outside_set = set(outside)
    suggestion = None
    if candidates and outside:
        suggestion = best_sites(
            candidates, [h for h in homes if h.id in outside_set], mode=mode, travel=travel
        )
    return CoverageReport(
        homes=len(homes), covered=len(homes) - len(outside), uncovered=tuple(outside), suggestion=suggestion
    )
