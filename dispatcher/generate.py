"""Stored service plans and one-off bookings become dated task rows (idempotently: a day generated twice adds nothing)."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from devices.errors import ConflictError, NotFoundError
from dispatcher.domain import TaskKind, Window
from dispatcher.errors import InvalidProblem
from dispatcher.records import Horizon, ShiftSpec
from dispatcher.service_plans import Recurrence, ServicePlan, TaskTemplate


class ServicePlanSpec(BaseModel):
    """A resident's recurring service as stored in ``service_plan.spec``; the window is local time of day."""

    model_config = ConfigDict(extra="forbid")
    recurrence: Recurrence
    start: date
    until: date | None = None
    weekdays: list[int] = []
    every_days: int = Field(default=1, ge=1, le=90)
    kind: TaskKind
    duration: int = Field(gt=0, le=480)
    window: ShiftSpec
    skills: list[str] = []
    carers: int = Field(default=1, ge=1, le=2)
    priority: int = Field(default=3, ge=1, le=5)
    same_sex: bool = False
    preferred_caregiver: str | None = None

    @model_validator(mode="after")
    def _fits(self) -> ServicePlanSpec:
        if self.window.end <= self.window.start:
            raise ValueError("window end must be after its start")
        if self.until is not None and self.until < self.start:
            raise ValueError("until is before start")
        return self

    def pure(self, plan_id: str, home: dict[str, Any], horizon: Horizon) -> ServicePlan:
        """The pure recurring plan (service_plans.py) for a day's horizon."""
        template = TaskTemplate(
            kind=self.kind, home_id=home["id"], lat=home["lat"], lon=home["lon"], duration=self.duration,
            windows=(Window(start=horizon.clock(self.window.start), end=horizon.clock(self.window.end)),),
            skills=frozenset(self.skills), carers=self.carers, priority=self.priority,
            preferred_caregiver=self.preferred_caregiver,
        )  # fmt: skip
        return ServicePlan(
            id=plan_id, recurrence=self.recurrence, start=self.start, until=self.until,
            weekdays=frozenset(self.weekdays), every_days=self.every_days, template=template,
        )  # fmt: skip


def add_service_plan(
    conn: psycopg.Connection[Any], plan_id: str, resident_id: str, spec: dict[str, Any]
) -> None:
    """Validate and store (or replace) a resident's service plan (ConflictError if the id is another's)."""
    try:
        parsed = ServicePlanSpec.model_validate(spec)
        ServicePlan(  # the pure model's own checks (e.g. weekly needs weekdays)
            id=plan_id, recurrence=parsed.recurrence, start=parsed.start, weekdays=frozenset(parsed.weekdays),
            every_days=parsed.every_days,
            template=TaskTemplate(kind=parsed.kind, home_id="-", lat=0, lon=0, duration=parsed.duration,
                                  windows=(Window(start=0, end=1),)),
        )  # fmt: skip
    except ValidationError as exc:
        raise InvalidProblem(f"service plan {plan_id}: {exc}") from exc
    if conn.execute("SELECT 1 FROM resident WHERE id = %s", (resident_id,)).fetchone() is None:
        raise NotFoundError(f"no resident {resident_id!r}")
    # A plan belongs to its resident for good: replacing it under another resident (perhaps of another
    # station, plan ids are guessable) would silently cancel this one's meals or baths.
    row = conn.execute(
        """INSERT INTO service_plan (id, resident_id, spec) VALUES (%s, %s, %s)
           ON CONFLICT (id) DO UPDATE SET spec = EXCLUDED.spec, active = true
           WHERE service_plan.resident_id = EXCLUDED.resident_id
           RETURNING id""",
        (plan_id, resident_id, Jsonb(parsed.model_dump(mode="json"))),
    ).fetchone()
    if row is None:
        raise ConflictError(f"service plan {plan_id!r} belongs to another resident", code="other_resident")


def generate_tasks(conn: psycopg.Connection[Any], station_id: str, horizon: Horizon) -> int:
    """Insert the day's tasks from the station's active service plans; returns how many were new."""
    rows = conn.execute(
        """SELECT sp.id, sp.spec, h.id, h.lat, h.lon
           FROM service_plan sp JOIN resident r ON r.id = sp.resident_id JOIN home h ON h.id = r.home_id
           WHERE sp.active AND h.station_id = %s AND r.presence = 'home' ORDER BY sp.id""",
        (station_id,),
    ).fetchall()
    added = 0
    for plan_id, spec, home_id, lat, lon in rows:
        parsed = ServicePlanSpec.model_validate(spec)
        pure = parsed.pure(plan_id, {"id": home_id, "lat": lat, "lon": lon}, horizon)
        if not pure.occurs_on(horizon.day):
            continue
        window = pure.template.windows[0]
        cur = conn.execute(
            """INSERT INTO task (station_id, home_id, day, kind, duration_min, window_start, window_end, skills,
                                 carers, priority, preferred_caregiver, same_sex, source, source_id)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'plan', %s)
               ON CONFLICT (source, source_id, day) DO NOTHING""",
            (
                station_id, home_id, horizon.day, parsed.kind.value, parsed.duration, horizon.at(window.start),
                horizon.at(window.end), parsed.skills, parsed.carers, parsed.priority, parsed.preferred_caregiver,
                parsed.same_sex, plan_id,
            ),
        )  # fmt: skip
        added += cur.rowcount
    return added


class BookingSpec(BaseModel):
    """A one-off service booked by a family member, the resident or staff (a local day and window)."""

    model_config = ConfigDict(extra="forbid")
    resident_id: str = Field(min_length=1)
    day: date
    kind: TaskKind
    duration: int = Field(gt=0, le=480)
    window: ShiftSpec
    skills: list[str] = []
    carers: int = Field(default=1, ge=1, le=2)
    notes: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _fits(self) -> BookingSpec:
        if self.kind is TaskKind.EMERGENCY:
            raise ValueError("emergencies are not booked: press the SOS button or call the station")
        if self.window.end <= self.window.start:
            raise ValueError("window end must be after its start")
        return self


def add_booking(conn: psycopg.Connection[Any], spec: BookingSpec, *, booked_by: str) -> int:
    """Store a booking as a pending task of the resident's station; returns the task id.

    The next plan of that day (or ``eldercare plan``) schedules it; a window shorter than the visit is
    refused here rather than reported later.
    """
    horizon = Horizon(spec.day)
    start, end = horizon.clock(spec.window.start), horizon.clock(spec.window.end)
    if end - start < spec.duration:
        raise InvalidProblem(
            f"the window {spec.window.start}–{spec.window.end} is shorter than {spec.duration} min"
        )
    row = conn.execute(
        "SELECT h.id, h.station_id FROM resident r JOIN home h ON h.id = r.home_id WHERE r.id = %s",
        (spec.resident_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no resident {spec.resident_id!r}")
    home_id, station_id = row
    if station_id is None:
        raise InvalidProblem(f"home {home_id} belongs to no station")
    source_id = f"{spec.resident_id}:{spec.kind.value}:{spec.window.start}:{booked_by}"
    task = conn.execute(
        """INSERT INTO task (station_id, home_id, day, kind, duration_min, window_start, window_end, skills,
                             carers, priority, source, source_id, notes)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 3, 'booking', %s, %s)
           ON CONFLICT (source, source_id, day) DO UPDATE SET notes = EXCLUDED.notes RETURNING id""",
        (
            station_id, home_id, spec.day, spec.kind.value, spec.duration, horizon.at(start), horizon.at(end),
            spec.skills, spec.carers, source_id, spec.notes,
        ),
    ).fetchone()  # fmt: skip
    assert task is not None
    return int(task[0])
