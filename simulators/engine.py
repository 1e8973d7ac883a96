"""One simulated home from routine to readings, generated lazily day by day, with incidents and ground truth."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from devices.types import Reading
from simulators.clock import day_midnight
from simulators.effects import Incident, apply_overrides, resolve
from simulators.home import Home
from simulators.incidents import BEHAVIOURAL, IncidentKind, TruthRecord
from simulators.meters import alarms, heartbeats, power, queue_meters, temperature, water
from simulators.resident import Activity, Persona, make_persona, plan_day
from simulators.schedule import IncidentPlan
from simulators.sensors import Row, SensorState, StatusChange, activity_events, build_reading, finalize

SimItem = Reading | StatusChange | TruthRecord
KEEP_S = 2 * 86400.0
WINDOW_S = 900.0  # sensor output is generated 15 simulated minutes at a time  # incidents are remembered this long after they end (temperature recovery etc.)


@dataclass(frozen=True, slots=True)
class Day:
    """One simulated day of one home: the timeline and the time-ordered items it produced."""

    day: int
    activities: list[Activity]
    incidents: list[Incident]
    rows: list[tuple[float, Row | SimItem]]

    @property
    def items(self) -> list[tuple[float, SimItem]]:
        """The day's (epoch seconds, item) pairs in time order, readings built."""
        return [(t, _build(obj)) for t, obj in self.rows]


def _build(obj: Row | SimItem) -> SimItem:
    return build_reading(obj) if isinstance(obj, tuple) else obj


@dataclass(frozen=True, slots=True)
class _DayPlan:
    day: int
    midnight: float
    end: float
    acts: list[Activity]
    new: list[Incident]
    rng: random.Random

    def windows(self) -> Iterator[tuple[float, float]]:
        lo = self.midnight
        while lo < self.end:
            yield lo, min(lo + WINDOW_S, self.end)
            lo += WINDOW_S


class HomeSim:
    """A home, its resident and its sensors; :meth:`stream` yields (epoch seconds, item) in time order.

    Items are readings, gateway status changes and ground-truth records (due at the incident's start).
    Everything is a function of (seed, home, start, days, plan): the same inputs give the same items.
    """

    def __init__(
        self,
        home: Home,
        *,
        start: datetime,
        days: int,
        seed: int = 0,
        plan: IncidentPlan | None = None,
        persona: Persona | None = None,
    ) -> None:
        """Set up the home; nothing is generated until :meth:`stream` or :meth:`day` is called."""
        self.home = home
        self.start = start
        self.days = days
        self.seed = seed
        self.plan = plan
        self.persona = persona or make_persona(home.home_id, seed=seed)
        self.state = SensorState(home, seed=seed, t0=day_midnight(start, 0).timestamp())
        self.incidents: list[Incident] = []
        self._next_day = 0

    def stream(self) -> Iterator[tuple[float, SimItem]]:
        """Yield every item of the simulation in time order, generated lazily window by window."""
        while self._next_day < self.days:
            plan = self._plan_day()
            for lo, hi in plan.windows():
                for t, obj in self._window(plan, lo, hi):
                    yield t, _build(obj)

    def day(self) -> Day:
        """Generate the whole next simulated day at once (days must be generated in order)."""
        plan = self._plan_day()
        rows = [pair for lo, hi in plan.windows() for pair in self._window(plan, lo, hi)]
        return Day(plan.day, plan.acts, plan.new, rows)

    def _plan_day(self) -> _DayPlan:
        d = self._next_day
        self._next_day += 1
        midnight_dt = day_midnight(self.start, d)
        midnight, end = midnight_dt.timestamp(), day_midnight(self.start, d + 1).timestamp()
        routine = plan_day(self.persona, midnight=midnight_dt, day_index=d, seed=self.seed)
        new = self._new_incidents(d, routine, midnight)
        self.incidents = [i for i in self.incidents if i.end + KEEP_S > midnight] + new
        self.state.battery_incidents += [i for i in new if i.kind is IncidentKind.BATTERY_DEPLETED]
        acts = apply_overrides(routine, self.incidents, start=midnight, end=end)
        self.state.midnight = midnight
        rng = random.Random(f"{self.seed}|{self.home.home_id}|day{d}|sensors")
        return _DayPlan(d, midnight, end, acts, new, rng)

    def _window(self, plan: _DayPlan, lo: float, hi: float) -> list[tuple[float, Row | SimItem]]:
        """Sensor output for [lo, hi) of the planned day (events caused here but due later wait)."""
        state, incidents = self.state, self.incidents
        acts = [a for a in plan.acts if lo <= a.start < hi]
        activity_events(state, acts, plan.rng, until=hi)
        queue_meters(state, acts, incidents, plan.rng)
        water(state, lo, hi, incidents)
        power(state, lo, hi)
        temperature(state, lo, hi, incidents)
        heartbeats(state, lo, hi)
        alarms(state, lo, hi, incidents)
        since = self.start.timestamp()
        items: list[tuple[float, Row | SimItem]] = [
            (r[0], r) for r in finalize(state, incidents, since=since, until=hi)
        ]
        items += self._status(lo, hi)
        items += [(t, i.truth()) for i in plan.new if lo <= (t := max(i.start, since)) < hi]
        items.sort(key=lambda pair: pair[0])
        return items

    def _new_incidents(self, d: int, routine: list[Activity], midnight: float) -> list[Incident]:
        if self.plan is None:
            return []
        sim_end = day_midnight(self.start, self.days).timestamp()
        accepted: list[Incident] = []
        for planned in self.plan.for_home_day(self.home.home_id, d):
            inc = resolve(planned, home=self.home, acts=routine, midnight=midnight, sim_end=sim_end)
            if inc.end <= inc.start or inc.end <= self.start.timestamp():
                continue
            if any(_overlap(inc, o) for o in self.incidents + accepted):
                continue  # the resident cannot fall while away: drop the later one, it is not injected
            accepted.append(inc)
        return accepted

    def _status(self, midnight: float, end: float) -> list[tuple[float, SimItem]]:
        out: list[tuple[float, SimItem]] = []
        for inc in self.incidents:
            if inc.kind is not IncidentKind.GATEWAY_OFFLINE or inc.device_id is None:
                continue
            for t, online in ((inc.start, False), (inc.end, True)):
                if midnight <= t < end:
                    out.append((t, StatusChange(inc.device_id, datetime.fromtimestamp(t, UTC), online)))
        return out


def _overlap(a: Incident, b: Incident) -> bool:
    """True when ``a`` cannot happen during ``b``: both change behaviour, or the same kind on the same device."""
    clash = (a.kind in BEHAVIOURAL and b.kind in BEHAVIOURAL) or (
        a.kind is b.kind and a.device_id == b.device_id
    )
    return clash and a.start < b.end and b.start < a.end
