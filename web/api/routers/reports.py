"""Reports: coverage of the stations' 15-minute circles (JSON or CSV), computed by the dispatcher."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from psycopg import sql
from pydantic import BaseModel

from devices.types import TravelMode
from dispatcher import coverage
from dispatcher.domain import Station
from web.api.deps import Conn, Staff
from web.api.models import problems
from web.api.scope import home_scope, station_scope

router = APIRouter(tags=["reports"])
MAX_CANDIDATES = 200


class SiteSuggestion(BaseModel):
    lat: float
    lon: float
    newly_covered: int


class CoverageRead(BaseModel):
    homes: int
    covered: int
    share: float
    uncovered: list[str]
    suggestion: SiteSuggestion | None


def _load(conn: Conn, user: Staff) -> tuple[list[Station], list[coverage.Home]]:
    stations = [
        Station(id=r[0], lat=r[1], lon=r[2], mode=TravelMode(r[3]))
        for r in conn.execute(
            sql.SQL("SELECT s.id, s.lat, s.lon, s.travel_mode FROM station s WHERE {} ORDER BY s.id").format(
                station_scope(user)
            )
        ).fetchall()
    ]
    homes = [
        coverage.Home(id=r[0], lat=r[1], lon=r[2])
        for r in conn.execute(
            sql.SQL("SELECT h.id, h.lat, h.lon FROM home h WHERE {} ORDER BY h.id").format(home_scope(user))
        ).fetchall()
    ]
    return stations, homes


@router.get("/reports/coverage", response_model=CoverageRead, responses=problems(401, 403))
def coverage_report(
    conn: Conn,
    user: Staff,
    suggest: bool = False,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> CoverageRead | Response:
    """Homes inside / outside every station's 15-minute circle; ``suggest`` picks the best new site among them."""
    stations, homes = _load(conn, user)
    outside_positions = []
    report = coverage.coverage_report(stations, homes)
    if suggest and report.uncovered:
        wanted = set(report.uncovered)
        outside_positions = [(h.lat, h.lon) for h in homes if h.id in wanted][:MAX_CANDIDATES]
        report = coverage.coverage_report(stations, homes, outside_positions)
    suggestion = None
    if report.suggestion and report.suggestion.sites:
        lat, lon = outside_positions[report.suggestion.sites[0]]
        suggestion = SiteSuggestion(lat=lat, lon=lon, newly_covered=len(report.suggestion.covered))
    body = CoverageRead(
        homes=report.homes, covered=report.covered, share=round(report.covered / report.homes, 4) if homes else 1.0,
        uncovered=list(report.uncovered), suggestion=suggestion,
    )  # fmt: skip
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["home_id", "covered"])
        uncovered = set(body.uncovered)
        writer.writerows([h.id, "no" if h.id in uncovered else "yes"] for h in homes)
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="coverage.csv"'})  # fmt: skip
    return body
