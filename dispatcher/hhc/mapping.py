"""Map a Mankowska instance onto the product's own planning Problem (what a station would enter).

The instance's plane becomes a station with its caregivers; each patient becomes a task with a soft window
(lateness costs as much per minute as a minute of travel, and so does the day's largest lateness, as in
the published objective); a simultaneous
double service becomes a double-handed task with one role per service; an ordered double service becomes
two tasks and a precedence with the instance's minimum and maximum gap. Times are scaled to integer units
of 1/SCALE minute so the plan can be compared with objectives published to two decimals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from devices.types import TravelMode
from dispatcher.domain import Caregiver, Lateness, Role, Sex, Station, Task, TaskKind, Window
from dispatcher.hhc.instance import HhcInstance
from dispatcher.scheduling.problem import Precedence, Problem, Weights
from dispatcher.travel import LatLon, Matrix

SCALE = 100  # model units per instance minute
DEGREES_PER_UNIT = 1e-3  # instance coordinates (0..99) placed on a small patch of latitude/longitude
HORIZON_MINUTES = 1440  # the instance's day is 0..600; routes may run late (soft windows, free return)
DROP_BASE = 10**6  # dropping a visit costs far more than any plan: every visit is served when possible


class PlaneProvider:
    """Travel time = Euclidean distance in instance units (speed 1), in 1/SCALE minutes rounded up.

    Rounding up keeps every planned route feasible under the real (unrounded) distances.
    """

    def table(self, origins: Sequence[LatLon], destinations: Sequence[LatLon], mode: TravelMode) -> Matrix:
        """Whole model units for every origin/destination pair (the mode does not matter here)."""
        del mode
        return [
            [
                math.ceil(math.hypot(a[0] - b[0], a[1] - b[1]) / DEGREES_PER_UNIT * SCALE - 1e-6)
                for b in destinations
            ]
            for a in origins
        ]


@dataclass(frozen=True, slots=True)
class Mapped:
    """The product's problem for an instance, and which (patient, service) each task role stands for."""

    problem: Problem
    service_of: dict[tuple[str, int], tuple[int, int]]  # (task id, role) -> (patient node, service)
    caregiver_index: dict[str, int]


def _place(inst: HhcInstance, i: int) -> LatLon:
    return inst.y[i] * DEGREES_PER_UNIT, inst.x[i] * DEGREES_PER_UNIT


def _units(minutes: float) -> int:
    return round(minutes * SCALE)


def to_problem(inst: HhcInstance) -> Mapped:
    """Build the Problem: one station, every caregiver on a free-length day, every patient's visits."""
    horizon = HORIZON_MINUTES * SCALE
    lat, lon = _place(inst, 0)
    station = Station(id="depot", lat=lat, lon=lon, mode=TravelMode.WALK, circle_minutes=horizon)
    caregivers = tuple(
        Caregiver(
            id=f"c{v}",
            station_id="depot",
            skills=frozenset(f"s{k + 1}" for k in inst.skills[v]),
            sex=Sex.FEMALE,
            shifts=(Window(start=0, end=horizon),),
            max_work_minutes=horizon,
        )
        for v in range(inst.caregivers)
    )
    tasks: list[Task] = []
    precedences: list[Precedence] = []
    service_of: dict[tuple[str, int], tuple[int, int]] = {}
    for i in inst.patients:
        services = inst.services[i]
        if len(services) == 1:
            tasks.append(_task(inst, i, f"p{i}", frozenset({f"s{services[0] + 1}"})))
            service_of[(f"p{i}", 0)] = (i, services[0])
        elif inst.simultaneous(i):
            roles = (
                Role(skills=frozenset({f"s{services[0] + 1}"})),
                Role(skills=frozenset({f"s{services[1] + 1}"})),
            )
            tasks.append(_task(inst, i, f"p{i}", frozenset(), roles=roles))
            service_of |= {(f"p{i}", 0): (i, services[0]), (f"p{i}", 1): (i, services[1])}
        else:  # the lower-numbered service first (FORMAT.md)
            first, second = f"p{i}-1", f"p{i}-2"
            tasks.append(_task(inst, i, first, frozenset({f"s{services[0] + 1}"})))
            tasks.append(_task(inst, i, second, frozenset({f"s{services[1] + 1}"})))
            service_of |= {(first, 0): (i, services[0]), (second, 0): (i, services[1])}
            gap_lo, gap_hi = math.ceil(inst.mind[i] * SCALE - 1e-6), math.floor(inst.maxd[i] * SCALE + 1e-6)
            precedences.append(Precedence(first=first, second=second, min_gap=gap_lo, max_gap=gap_hi))
    problem = Problem(
        horizon=horizon,
        stations=(station,),
        caregivers=caregivers,
        tasks=tuple(tasks),
        precedences=tuple(precedences),
        weights=Weights(drop_base=DROP_BASE, continuity=0, balance=0, max_lateness=1),
    )
    return Mapped(problem, service_of, {c.id: v for v, c in enumerate(caregivers)})


def _task(
    inst: HhcInstance, i: int, task_id: str, skills: frozenset[str], roles: tuple[Role, Role] | None = None
) -> Task:
    lat, lon = _place(inst, i)
    duration = _units(inst.p[i])
    end = _units(inst.l[i]) + duration  # on time = starting by l[i]
    horizon = HORIZON_MINUTES * SCALE
    return Task(
        id=task_id,
        kind=TaskKind.VISIT,
        home_id=f"h{i}",
        lat=lat,
        lon=lon,
        duration=duration,
        windows=(Window(start=_units(inst.e[i]), end=end),),
        skills=skills,
        carers=2 if roles is not None else 1,
        roles=roles,
        lateness=Lateness(cost_per_minute=1, max_minutes=horizon - end),
    )
