"""Stored service plans and one-off bookings become dated task rows (idempotently: a day generated twice adds nothing)."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from devices.errors import NotFoundError
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
    """Validate and store (or replace) a resident's service plan."""
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
    conn.execute(
        """INSERT INTO service_plan (id, resident_id, spec) VALUES (%s, %s, %s)
           ON CONFLICT (id) DO UPDATE SET resident_id = EXCLUDED.resident_id, spec = EXCLUDED.spec, active = true""",
        (plan_id, resident_id, Jsonb(parsed.model_dump(mode="json"))),
    )


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
