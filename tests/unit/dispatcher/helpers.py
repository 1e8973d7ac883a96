"""Small hand-made care problems and a direct (solver-independent) checker for plans."""

from __future__ import annotations

import itertools
from collections import defaultdict

from devices.types import TravelMode
from dispatcher.domain import Caregiver, Sex, Station, Task, TaskKind, Window
from dispatcher.scheduling.problem import Plan, Problem
from dispatcher.travel import HaversineProvider

STATION = Station(id="s1", lat=29.72, lon=106.63, mode=TravelMode.WALK)
TRAVEL = HaversineProvider()


def near(k: int, step: float = 0.0015) -> tuple[float, float]:
    """A point k steps north-east of the station (step 0.0015 deg is about 3 min walk)."""
    return round(STATION.lat + step * (k % 3), 6), round(STATION.lon + step * (k // 3 % 3), 6)


def carer(cid: str, *, skills: set[str] | None = None, sex: Sex = Sex.FEMALE, **kw: object) -> Caregiver:
    data: dict[str, object] = {
        "id": cid,
        "station_id": STATION.id,
        "skills": frozenset(skills or {"meals", "cleaning"}),
        "sex": sex,
        "shifts": (Window(start=480, end=1020),),
        "mode": TravelMode.WALK,
    }
    data |= kw
    return Caregiver.model_validate(data)


def job(tid: str, k: int, *, start: int = 480, end: int = 1020, duration: int = 30, **kw: object) -> Task:
    lat, lon = near(k)
    data: dict[str, object] = {
        "id": tid,
        "kind": TaskKind.VISIT,
        "home_id": f"h-{tid}",
        "lat": lat,
        "lon": lon,
        "duration": duration,
        "windows": (Window(start=start, end=end),),
    }
    data |= kw
    return Task.model_validate(data)


def problem(carers: list[Caregiver], tasks: list[Task], **kw: object) -> Problem:
    return Problem.model_validate(
        {"stations": (STATION,), "caregivers": tuple(carers), "tasks": tuple(tasks), **kw}
    )


def minutes(a: tuple[float, float], b: tuple[float, float], mode: TravelMode) -> int:
    return TRAVEL.table([a], [b], mode)[0][0]


def assert_sound(plan: Plan) -> None:
    """Assert every hard rule directly on the plan (independently of verify_plan and of the solver)."""
    prob = plan.problem
    cg = {c.id: c for c in prob.caregivers}
    unassigned = {u.task_id for u in plan.unassigned}
    assert all(u.reason for u in plan.unassigned)
    served: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for route in plan.routes:
        c = cg[route.caregiver_id]
        s = next(x for x in prob.stations if x.id == c.station_id)
        station = (s.lat, s.lon)
        if not route.visits:
            continue
        assert c.day_start <= route.depart <= route.back <= c.day_end
        shifts = sorted(c.shifts, key=lambda w: w.start)
        off = sum(b.start - a.end for a, b in itertools.pairwise(shifts))
        assert route.back - route.depart - off <= c.max_work_minutes
        here, free = station, route.depart
        for v in route.visits:
            t = prob.task(v.task_id)
            served[t.id].append((c.id, v.start))
            assert t.skills <= c.skills, (t.id, c.id)
            assert any(w.start <= v.start and v.start + t.duration <= w.end for w in t.windows), (
                t.id,
                v.start,
            )
            assert v.end == v.start + t.duration
            assert not t.same_sex or c.sex == t.resident_sex, (t.id, c.id)
            rest = sum(b.end - b.start for b in route.breaks if free <= b.start and b.end <= v.start)
            assert v.start >= free + minutes(here, (t.lat, t.lon), c.mode) + rest, (c.id, t.id)
            assert v.eta <= v.start
            here, free = (t.lat, t.lon), v.end
        assert route.back >= free + minutes(here, station, c.mode)
        for b in route.breaks:
            assert not any(v.start < b.end and b.start < v.end for v in route.visits), (c.id, b)
        rule = c.break_rule
        if rule is not None and c.day_end - c.day_start > rule.min_day_minutes:
            assert any(
                rule.earliest <= b.start and b.end <= rule.latest and b.end - b.start >= rule.duration
                for b in route.breaks
            ), (c.id, route.breaks)
    for t in prob.tasks:
        got = served.get(t.id, [])
        assert (t.id in unassigned) == (not got), t.id
        if got:
            assert len(got) == t.carers, (t.id, got)
            if t.carers == 2:
                assert got[0][0] != got[1][0], (t.id, got)
                assert got[0][1] == got[1][1], (t.id, got)
