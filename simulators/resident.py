"""A resident's seeded personal habits and the day-by-day activity timeline they produce."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from devices.types import Room

MIN = 60.0
HOUR = 3600.0

# Activities the sensor model understands (``Activity.what``).
SLEEP, NAP, TOILET, WASH, BATH, DRESS = "sleep", "nap", "toilet", "wash", "bath", "dress"
COOK, MEAL, TEA, DISHES = "cook", "meal", "tea", "dishes"
TV, SIT, VISIT, OUT = "tv", "sit", "visit", "out"
# Set by incidents only.
LYING, LONG_STAY, AWAY = "lying", "long_stay", "away"


@dataclass(frozen=True, slots=True)
class Activity:
    """What the resident does from ``start`` to ``end`` (epoch seconds); ``room`` is None when out."""

    room: Room | None
    start: float
    end: float
    what: str

    def clipped(self, start: float, end: float) -> Activity | None:
        """Return the part of this activity inside [start, end), or None if nothing is left."""
        lo, hi = max(self.start, start), min(self.end, end)
        return Activity(self.room, lo, hi, self.what) if hi > lo else None


@dataclass(frozen=True, slots=True)
class Persona:
    """A resident's habits; times are minutes after local midnight, sd in minutes."""

    resident_id: str
    wake: float
    bed: float
    sd: float  # day-to-day spread of wake/bed/meal times
    breakfast_delay: float
    lunch: float
    dinner: float
    night_toilets: float  # mean visits per night
    outing_weekday: float  # probability of going out on a weekday
    outing_weekend: float
    outing_morning: bool  # goes out in the morning (market) rather than the afternoon
    bath_every: int  # days between baths
    nap_prob: float
    visitor_weekday: float
    visitor_weekend: float
    weekend_shift: float  # minutes later on weekends
    slowness: float  # multiplies durations (1.0 = brisk)

    @property
    def irregular(self) -> bool:
        """True for residents whose day varies a lot."""
        return self.sd >= 30


def make_persona(resident_id: str, *, seed: int = 0, irregular: bool | None = None) -> Persona:
    """Draw a resident's personal habits, deterministically from ``seed`` and ``resident_id``.

    Args:
        resident_id: the resident (usually the home id); different ids get different habits.
        seed: run seed.
        irregular: force a slow, irregular resident (True) or a regular one (False); random if None.

    Returns:
        The persona.
    """
    rng = random.Random(f"{seed}|{resident_id}|persona")
    if irregular is None:
        irregular = rng.random() < 0.25
    return Persona(
        resident_id=resident_id,
        wake=rng.uniform(5.5, 8.0) * 60,
        bed=rng.uniform(21.0, 22.75) * 60,
        sd=rng.uniform(30, 45) if irregular else rng.uniform(8, 18),
        breakfast_delay=rng.uniform(25, 60),
        lunch=rng.uniform(11.25, 12.5) * 60,
        dinner=rng.uniform(17.25, 18.75) * 60,
        night_toilets=rng.uniform(0.3, 2.2),
        outing_weekday=rng.uniform(0.35, 0.8),
        outing_weekend=rng.uniform(0.2, 0.6),
        outing_morning=rng.random() < 0.6,
        bath_every=rng.choice((1, 2, 2, 3)),
        nap_prob=rng.uniform(0.1, 0.8),
        visitor_weekday=rng.uniform(0.03, 0.12),
        visitor_weekend=rng.uniform(0.15, 0.45),
        weekend_shift=rng.uniform(0, 40),
        slowness=rng.uniform(1.3, 1.7) if irregular else rng.uniform(0.9, 1.2),
    )


@dataclass(slots=True)
class _Day:
    rng: random.Random
    persona: Persona
    midnight: float  # epoch seconds of local midnight
    acts: list[Activity]
    cursor: float
    last_toilet: float

    def at(self, minutes: float) -> float:
        return self.midnight + minutes * MIN

    def dur(self, lo: float, hi: float) -> float:
        return self.rng.uniform(lo, hi) * MIN * self.persona.slowness

    def add(self, room: Room | None, what: str, seconds: float) -> None:
        self.acts.append(Activity(room, self.cursor, self.cursor + seconds, what))
        self.cursor += seconds
        if what in (TOILET, WASH, BATH):
            self.last_toilet = self.cursor

    def fill_until(self, until: float) -> None:
        """Spend the time up to ``until`` at home: living room, toilet trips, a cup of tea."""
        while until - self.cursor > 60:
            left = until - self.cursor
            if self.cursor - self.last_toilet > self.rng.uniform(100, 200) * MIN and left > 8 * MIN:
                self.add(Room.BATHROOM, TOILET, min(left, self.dur(3, 6)))
            elif self.rng.random() < 0.12 and left > 10 * MIN:
                self.add(Room.KITCHEN, TEA, min(left, self.dur(3, 7)))
            else:
                hour = (self.cursor - self.midnight) / HOUR
                what = TV if (hour >= 18 or 13 <= hour < 16) and self.rng.random() < 0.7 else SIT
                self.add(Room.LIVING_ROOM, what, min(left, self.rng.uniform(20, 60) * MIN))
        self.cursor = max(self.cursor, until)


def _night(day: _Day, until: float) -> None:
    """Sleep until ``until`` with Poisson-many toilet visits."""
    count = poisson(day.rng, day.persona.night_toilets) if until - day.cursor > 90 * MIN else 0
    visits = sorted(day.rng.uniform(day.cursor + 30 * MIN, until - 30 * MIN) for _ in range(count))
    for t in visits:
        if t - day.cursor < 10 * MIN:
            continue
        day.add(Room.BEDROOM, SLEEP, t - day.cursor)
        day.add(Room.BATHROOM, TOILET, day.dur(2, 5))
    day.add(Room.BEDROOM, SLEEP, until - day.cursor)


def poisson(rng: random.Random, mean: float) -> int:
    """Draw a Poisson-distributed count with the given mean."""
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def _meal(day: _Day, at_minutes: float, cook: tuple[float, float], eat: tuple[float, float]) -> None:
    day.fill_until(day.at(at_minutes))
    day.add(Room.KITCHEN, COOK, day.dur(*cook))
    day.add(Room.KITCHEN, MEAL, day.dur(*eat))
    day.add(Room.KITCHEN, DISHES, day.dur(3, 8))


def _afternoon(day: _Day, p: Persona, weekend: bool, out: bool) -> None:
    rng = day.rng
    if rng.random() < p.nap_prob:
        day.fill_until(day.at(rng.gauss(13.5 * 60, 20)))
        day.add(Room.BEDROOM, NAP, day.dur(25, 70))
    if out and not p.outing_morning:
        day.fill_until(day.at(rng.gauss(15 * 60, 30)))
        day.add(None, OUT, day.dur(40, 120))
    if rng.random() < (p.visitor_weekend if weekend else p.visitor_weekday):
        day.fill_until(day.at(rng.uniform(15, 16.5) * 60))
        day.add(Room.LIVING_ROOM, VISIT, rng.uniform(30, 90) * MIN)


def plan_day(persona: Persona, *, midnight: datetime, day_index: int, seed: int = 0) -> list[Activity]:
    """Plan one local day, 00:00 to 24:00, as a gap-free list of activities in time order.

    Args:
        persona: the resident.
        midnight: aware datetime of this day's local midnight.
        day_index: 0-based day of the simulation (part of the random stream's key).
        seed: run seed.

    Returns:
        Activities covering [midnight, midnight + 24 h); the resident is in bed at both ends.
    """
    rng = random.Random(f"{seed}|{persona.resident_id}|day{day_index}")
    p = persona
    weekend = midnight.weekday() >= 5
    shift = p.weekend_shift if weekend else 0.0
    t0 = midnight.timestamp()
    day = _Day(rng, p, t0, [], t0, t0)
    wake = min(max(rng.gauss(p.wake + shift, p.sd), 4.5 * 60), 10.5 * 60)
    bed = min(max(rng.gauss(p.bed + shift / 2, p.sd), 20 * 60), 23.75 * 60)
    _night(day, day.at(wake))
    day.add(Room.BATHROOM, WASH, day.dur(8, 16))
    day.add(Room.BEDROOM, DRESS, day.dur(4, 10))
    _meal(day, wake + p.breakfast_delay + rng.gauss(0, p.sd / 3), (8, 15), (12, 20))
    out = rng.random() < (p.outing_weekend if weekend else p.outing_weekday)
    if out and p.outing_morning:
        day.fill_until(day.at(rng.gauss(9.25 * 60, 25)))
        day.add(None, OUT, day.dur(45, 120))
    _meal(day, rng.gauss(p.lunch, p.sd), (15, 30), (15, 25))
    _afternoon(day, p, weekend, out)
    _meal(day, rng.gauss(p.dinner, p.sd), (20, 35), (15, 25))
    bedtime = max(day.at(bed), day.cursor + 30 * MIN)
    if day_index % p.bath_every == 0:
        day.fill_until(bedtime - rng.uniform(70, 110) * MIN)
        day.add(Room.BATHROOM, BATH, day.dur(20, 35))
    day.fill_until(bedtime - 15 * MIN)
    day.add(Room.BATHROOM, WASH, day.dur(5, 10))
    end = (midnight + timedelta(days=1)).timestamp()
    if day.cursor < end - 5 * MIN:
        _night(day, end)
    clipped = (a.clipped(t0, end) for a in day.acts)
    return [a for a in clipped if a is not None]
