"""Seeded synthetic station-days around a Chongqing station (benchmarks, demos and tests)."""

from __future__ import annotations

import math
import random

from devices.types import TravelMode
from dispatcher.domain import BreakRule, Caregiver, Sex, Station, Task, TaskKind, Window
from dispatcher.scheduling.problem import Problem
from dispatcher.travel import DEFAULT_SPEEDS_KMH

STATION = Station(id="cq-yuzhong-1", lat=29.72, lon=106.63, mode=TravelMode.EBIKE)
# kind: (duration range, required skills, share)
_KINDS: dict[TaskKind, tuple[tuple[int, int], frozenset[str], float]] = {
    TaskKind.MEAL: ((15, 20), frozenset({"meals"}), 0.35),
    TaskKind.VISIT: ((20, 30), frozenset(), 0.25),
    TaskKind.CLEANING: ((30, 45), frozenset({"cleaning"}), 0.2),
    TaskKind.BATHING: ((40, 50), frozenset({"bathing"}), 0.1),
    TaskKind.ESCORT: ((45, 60), frozenset({"escort"}), 0.1),
}
_ALL_SKILLS = ("meals", "cleaning", "bathing", "escort", "nursing", "dementia")


def home_point(rng: random.Random, station: Station = STATION, share: float = 0.85) -> tuple[float, float]:
    """A random point inside ``share`` of the station's circle radius (great-circle, detour 1.3)."""
    radius_km = DEFAULT_SPEEDS_KMH[station.mode] * station.circle_minutes / 60 / 1.3 * share
    r, a = radius_km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    dlat = r * math.cos(a) / 111.32
    dlon = r * math.sin(a) / (111.32 * math.cos(math.radians(station.lat)))
    return round(station.lat + dlat, 6), round(station.lon + dlon, 6)


def caregivers(rng: random.Random, n: int, station: Station = STATION) -> list[Caregiver]:
    """``n`` caregivers: mixed skills and sex, most on e-bikes, three shift patterns, a lunch break."""
    shifts = [(420, 900), (480, 1020), (600, 1140)]
    out = []
    for i in range(n):
        start, end = shifts[i % 3]
        skills = {"meals", "cleaning"} | set(rng.sample(_ALL_SKILLS, 2))
        out.append(
            Caregiver(
                id=f"cg{i:02d}",
                station_id=station.id,
                skills=frozenset(skills),
                sex=Sex.FEMALE if rng.random() < 0.7 else Sex.MALE,
                shifts=(Window(start=start, end=end),),
                break_rule=BreakRule(
                    duration=30, earliest=start + 180, latest=start + 330, min_day_minutes=360
                ),
                max_work_minutes=510,
                mode=TravelMode.EBIKE if rng.random() < 0.75 else TravelMode.WALK,
                languages=frozenset({"zh", "cq"} if rng.random() < 0.8 else {"zh"}),
            )
        )
    return out


def task(rng: random.Random, task_id: str, *, double: bool = False, station: Station = STATION) -> Task:
    """One random task; ``double`` makes it a double-handed bathing visit (hoist)."""
    kinds = list(_KINDS)
    kind = TaskKind.BATHING if double else rng.choices(kinds, weights=[_KINDS[k][2] for k in kinds])[0]
    (lo, hi), skills, _ = _KINDS[kind]
    duration = rng.randint(lo, hi)
    if kind is TaskKind.MEAL:
        start = rng.choice([660, 690, 1020])
        window = Window(start=start, end=start + 90)
    else:
        start = rng.randrange(480, 960, 30)
        window = Window(start=start, end=start + rng.choice([120, 180, 240]))
    lat, lon = home_point(rng, station)
    sex = Sex.FEMALE if rng.random() < 0.6 else Sex.MALE
    return Task(
        id=task_id,
        kind=kind,
        home_id=f"home-{task_id}",
        lat=lat,
        lon=lon,
        duration=duration,
        windows=(window,),
        skills=skills | ({"dementia"} if rng.random() < 0.05 else frozenset()),
        carers=2 if double else 1,
        priority=rng.choice([2, 3, 3, 4]),
        same_sex=kind is TaskKind.BATHING and rng.random() < 0.5,
        resident_sex=sex,
    )


def station_day(
    seed: int, *, n_caregivers: int = 40, n_tasks: int = 500, double_share: float = 0.1
) -> Problem:
    """A seeded synthetic station-day (all homes inside the circle)."""
    rng = random.Random(seed)
    cgs = caregivers(rng, n_caregivers)
    n_double = round(n_tasks * double_share)
    tasks = [task(rng, f"t{i:03d}", double=i < n_double) for i in range(n_tasks)]
    return Problem(stations=(STATION,), caregivers=tuple(cgs), tasks=tuple(tasks))
