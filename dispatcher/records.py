"""Rows to planning objects: a station-day's caregivers and tasks as a ``Problem`` (minutes from local midnight)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from devices.errors import ConflictError, NotFoundError
from devices.types import TravelMode
from dispatcher.domain import BreakRule, Caregiver, Sex, Station, Task, TaskKind, TaskStatus, Window
from dispatcher.errors import InvalidProblem
from dispatcher.scheduling.problem import Problem

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
DAY_MINUTES = 1440
OPEN_STATUSES = ("pending", "planned", "started")
RESIDENT_SEX = {"F": Sex.FEMALE, "M": Sex.MALE}


@dataclass(frozen=True, slots=True)
class Horizon:
    """A local day: minute 0 is local midnight (DST-safe: minutes are real elapsed minutes)."""

    day: date
    tz: ZoneInfo = DEFAULT_TZ

    @property
    def start(self) -> datetime:
        """Local midnight."""
        return datetime.combine(self.day, time(0), self.tz)

    def minute(self, at: datetime) -> int:
        """Whole minutes from local midnight (may be negative or past the day)."""
        return int((at - self.start).total_seconds() // 60)

    def at(self, minute: int) -> datetime:
        """The instant ``minute`` minutes after local midnight."""
        return self.start + timedelta(minutes=minute)

    def clock(self, hhmm: str) -> int:
        """Minutes of a local time of day ``HH:MM`` on this day."""
        t = time.fromisoformat(hhmm)
        return self.minute(datetime.combine(self.day, t, self.tz))


def parse_day(value: str) -> date:
    """An ISO date (``YYYY-MM-DD``), or ``today``; a clear error otherwise."""
    if value == "today":
        return datetime.now(DEFAULT_TZ).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidProblem(f"not a date: {value!r} (expected YYYY-MM-DD or 'today')") from None


class ShiftSpec(BaseModel):
    """One shift as local times of day."""

    model_config = ConfigDict(extra="forbid")
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a time of day: {value!r} (HH:MM)") from None
        return value


class CaregiverSpec(BaseModel):
    """A caregiver as the CLI, the API and the demo give one."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    station_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=100)
    sex: Sex
    skills: list[str] = []
    languages: list[str] = []
    travel_mode: TravelMode = TravelMode.WALK
    shifts: list[ShiftSpec] = Field(
        default_factory=lambda: [ShiftSpec(start="08:00", end="17:00")], min_length=1
    )
    break_minutes: int = Field(default=30, ge=0, le=120)
    max_work_minutes: int = Field(default=480, gt=0, le=720)


def upsert_caregiver(conn: psycopg.Connection[Any], spec: CaregiverSpec) -> None:
    """Insert or update a caregiver; never moves one to another station (ConflictError).

    The station guard is in the statement itself, so a caller that checked scope first cannot race a
    concurrent move, and one that forgot to check cannot rewrite another station's caregiver.
    """
    row = conn.execute(
        """INSERT INTO caregiver (id, station_id, name, sex, skills, languages, travel_mode, shifts,
                                  break_minutes, max_work_minutes)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
             sex = EXCLUDED.sex, skills = EXCLUDED.skills, languages = EXCLUDED.languages,
             travel_mode = EXCLUDED.travel_mode, shifts = EXCLUDED.shifts,
             break_minutes = EXCLUDED.break_minutes, max_work_minutes = EXCLUDED.max_work_minutes
           WHERE caregiver.station_id = EXCLUDED.station_id
           RETURNING id""",
        (
            spec.id, spec.station_id, spec.name, spec.sex.value, spec.skills, spec.languages,
            spec.travel_mode.value, Jsonb([s.model_dump() for s in spec.shifts]),
            spec.break_minutes, spec.max_work_minutes,
        ),
    ).fetchone()  # fmt: skip
    if row is None:
        raise ConflictError(
            f"caregiver {spec.id!r} belongs to another station; caregivers do not move between stations",
            code="other_station",
        )


def station(conn: psycopg.Connection[Any], station_id: str) -> Station:
    """The station as a planning object."""
    row = conn.execute(
        "SELECT id, lat, lon, travel_mode FROM station WHERE id = %s", (station_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no station {station_id!r}")
    return Station(id=row[0], lat=row[1], lon=row[2], mode=TravelMode(row[3]))


def caregiver(row: dict[str, Any], horizon: Horizon) -> Caregiver:
    """A caregiver row as a routing vehicle for the day."""
    shifts = tuple(
        Window(start=max(0, horizon.clock(s["start"])), end=min(DAY_MINUTES, horizon.clock(s["end"])))
        for s in row["shifts"]
    )
    first, last = min(w.start for w in shifts), max(w.end for w in shifts)
    rule = None
    if row["break_minutes"] > 0 and last - first >= 360:
        earliest, latest = first + 180, min(last, first + 360)
        if latest - earliest >= row["break_minutes"]:
            rule = BreakRule(duration=row["break_minutes"], earliest=earliest, latest=latest)
    return Caregiver(
        id=row["id"], station_id=row["station_id"], skills=frozenset(row["skills"]), sex=Sex(row["sex"]),
        shifts=shifts, break_rule=rule, max_work_minutes=row["max_work_minutes"],
        mode=TravelMode(row["travel_mode"]), languages=frozenset(row["languages"]),
    )  # fmt: skip


TASK_SELECT = """
    SELECT t.*, h.lat, h.lon,
           (SELECT r.sex FROM resident r WHERE r.home_id = t.home_id ORDER BY r.id LIMIT 1) AS resident_sex
    FROM task t JOIN home h ON h.id = t.home_id
"""


def task(row: dict[str, Any], horizon: Horizon) -> Task:
    """A task row as a planning task; its window is clipped to the day."""
    start = max(0, horizon.minute(row["window_start"]))
    end = min(DAY_MINUTES, horizon.minute(row["window_end"]))
    if end <= start:  # a window wholly outside the day: keep it impossible but valid, precheck reports it
        start, end = 0, 1
    sex = RESIDENT_SEX.get(row["resident_sex"] or "")
    return Task(
        id=str(row["id"]), kind=TaskKind(row["kind"]), home_id=row["home_id"], lat=row["lat"], lon=row["lon"],
        duration=row["duration_min"], windows=(Window(start=start, end=end),), skills=frozenset(row["skills"]),
        carers=row["carers"], priority=row["priority"], preferred_caregiver=row["preferred_caregiver"],
        same_sex=bool(row["same_sex"] and sex is not None), resident_sex=sex, status=TaskStatus(row["status"]),
    )  # fmt: skip


def load_problem(
    conn: psycopg.Connection[Any],
    station_id: str,
    horizon: Horizon,
    *,
    statuses: Iterable[str] = ("pending", "planned"),
    exclude: Iterable[int] = (),
) -> Problem:
    """The station-day as a planning problem: active caregivers and the day's tasks in ``statuses``."""
    st = station(conn, station_id)
    with conn.cursor(row_factory=dict_row) as cur:
        carers = cur.execute(
            "SELECT * FROM caregiver WHERE station_id = %s AND active ORDER BY id", (station_id,)
        ).fetchall()
        rows = cur.execute(
            TASK_SELECT + " WHERE t.station_id = %s AND t.day = %s AND t.status = ANY(%s)"
            " AND NOT t.id = ANY(%s) ORDER BY t.id",
            (station_id, horizon.day, list(statuses), list(exclude)),
        ).fetchall()
    try:
        return Problem(
            horizon_start=horizon.start,
            stations=(st,),
            caregivers=tuple(caregiver(r, horizon) for r in carers),
            tasks=tuple(task(r, horizon) for r in rows),
        )
    except ValidationError as exc:
        raise InvalidProblem(f"station {station_id} on {horizon.day}: {exc}") from exc


def task_row(conn: psycopg.Connection[Any], task_id: int) -> dict[str, Any]:
    """One task with its home's position (NotFoundError when absent)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(TASK_SELECT + " WHERE t.id = %s", (task_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no task {task_id}")
    return row
