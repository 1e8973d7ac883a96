"""Reports (JSON or CSV): coverage of the stations' 15-minute circles, and KPIs (response times, visits done)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from psycopg import sql
from pydantic import BaseModel

from devices.errors import ValidationFailed
from devices.types import TravelMode
from dispatcher import coverage
from dispatcher.domain import Station
from dispatcher.records import DEFAULT_TZ
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


class StationKpis(BaseModel):
    station_id: str
    alerts: int
    alerts_resolved: int
    real_incidents: int
    false_alarms: int
    ack_min_p50: float | None  # raised -> acknowledged (or assigned, which acknowledges)
    ack_min_p90: float | None
    arrival_min_p50: float | None  # raised -> the sent caregiver checked in
    arrival_min_p90: float | None
    visits_planned: int
    visits_done: int
    visits_done_share: float | None
    visits_with_problem: int


KPI_SQL = sql.SQL("""
WITH a AS (
    SELECT a.station_id, a.status, a.outcome,
           extract(epoch FROM coalesce(a.acknowledged_at, a.assigned_at) - a.raised_at) / 60 AS ack_min,
           extract(epoch FROM t.started_at - a.raised_at) / 60 AS arrival_min
    FROM alert a LEFT JOIN task t ON t.id = a.task_id
    WHERE a.raised_at >= %(start)s AND a.raised_at < %(end)s AND a.station_id IS NOT NULL
), v AS (
    SELECT station_id, count(*) FILTER (WHERE status IN ('planned', 'started', 'done')) AS planned,
           count(*) FILTER (WHERE status = 'done') AS done, count(*) FILTER (WHERE problem) AS problems
    FROM task WHERE day >= %(from)s AND day <= %(to)s AND NOT urgent GROUP BY station_id
)
SELECT s.id AS station_id,
       (SELECT count(*) FROM a WHERE a.station_id = s.id) AS alerts,
       (SELECT count(*) FROM a WHERE a.station_id = s.id AND a.status = 'resolved') AS alerts_resolved,
       (SELECT count(*) FROM a WHERE a.station_id = s.id AND a.outcome = 'real_incident') AS real_incidents,
       (SELECT count(*) FROM a WHERE a.station_id = s.id AND a.outcome = 'false_alarm') AS false_alarms,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_min) FROM a WHERE a.station_id = s.id) AS ack_p50,
       (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY ack_min) FROM a WHERE a.station_id = s.id) AS ack_p90,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY arrival_min) FROM a WHERE a.station_id = s.id) AS arr_p50,
       (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY arrival_min) FROM a WHERE a.station_id = s.id) AS arr_p90,
       coalesce(v.planned, 0) AS planned, coalesce(v.done, 0) AS done, coalesce(v.problems, 0) AS problems
FROM station s LEFT JOIN v ON v.station_id = s.id
WHERE {scope} AND (%(station)s::text IS NULL OR s.id = %(station)s)
ORDER BY s.id
""")


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


@router.get("/reports/kpis", response_model=list[StationKpis], responses=problems(401, 403, 422))
def kpis(
    conn: Conn,
    user: Staff,
    from_: Annotated[date, Query(alias="from")],
    to: date,
    station_id: str | None = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> list[StationKpis] | Response:
    """Per station: response times (alert → acknowledged, alert → caregiver at the door), outcomes, and
    visits done against visits planned, over local days ``from``..``to`` (at most a year)."""
    if to < from_ or (to - from_).days > 366:
        raise ValidationFailed("'to' must be on or after 'from', at most a year later", code="bad_range")
    start = datetime.combine(from_, time(0), DEFAULT_TZ)
    end = datetime.combine(to + timedelta(days=1), time(0), DEFAULT_TZ)
    params = {"start": start, "end": end, "from": from_, "to": to, "station": station_id}
    rows = conn.execute(KPI_SQL.format(scope=station_scope(user)), params).fetchall()
    out = [
        StationKpis(
            station_id=r[0],
            alerts=r[1],
            alerts_resolved=r[2],
            real_incidents=r[3],
            false_alarms=r[4],
            ack_min_p50=_round(r[5]),
            ack_min_p90=_round(r[6]),
            arrival_min_p50=_round(r[7]),
            arrival_min_p90=_round(r[8]),
            visits_planned=r[9],
            visits_done=r[10],
            visits_done_share=round(r[10] / r[9], 3) if r[9] else None,
            visits_with_problem=r[11],
        )
        for r in rows
    ]
    if format == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(StationKpis.model_fields))
        writer.writeheader()
        writer.writerows(k.model_dump() for k in out)
        return Response(buf.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="kpis-{from_}-{to}.csv"'})  # fmt: skip
    return out
