"""The rules process's "now": the wall clock, or (replays, evaluation) the time of the ordered reading stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WALL, DATA = "wall", "data"
DATA_TICK_S = 60.0  # data mode: a tick each simulated minute (a deployment ticks every 15 s of wall time)


@dataclass
class RulesClock:
    """What time it is for the rules, and when the clock tick (absence-of-event rules) is due.

    ``wall``: now is the wall clock (production: silence is the signal, whatever the devices send).

    ``data``: now is the newest time of the *ordered* reading stream, for replays and accelerated
    evaluations. One clock for every home, not one per home: a home that goes silent (gateway down, a
    resident lying still) must still see time pass. It needs the readings in stream order, from one
    publisher (one simulated clock), with nothing jumping the queue (the worker takes no life-safety lane
    in this mode): a reading evaluated ahead of the ones still queued for its home judges that home on a
    state that lacks them (inactivity, devices offline). The tick is then due each
    ``data_tick_s`` of data time as well as each ``tick_s`` of wall time, so that an accelerated run sees
    time pass in steps close to a real deployment's, not in steps of ``tick_s`` times the speed.
    """

    mode: str = WALL
    future: timedelta = timedelta(minutes=5)  # a reading stamped further ahead of the wall clock is capped
    tick_s: float = 15.0
    data_tick_s: float = DATA_TICK_S
    data_now: datetime | None = None
    late: int = 0  # data mode: readings that came more than ``data_tick_s`` behind the clock (out of order)
    late_max_s: float = 0.0  # the most any reading was behind the clock
    _tick_wall: float | None = None
    _tick_data: datetime | None = None

    def reading(self, ts: datetime, *, wall: datetime) -> datetime:
        """The time a reading stamped ``ts`` (``wall``: the wall clock now) is evaluated at.

        In data mode that is its own time (capped at ``wall`` plus the future skew), and it moves the
        clock forward: a late one (a device that buffered) is judged at its time, the clock stays put.
        """
        if self.mode != DATA:
            return wall
        t = min(ts, wall + self.future)
        if self.data_now is None or t > self.data_now:
            self.data_now = t
            return t
        behind = (self.data_now - t).total_seconds()
        self.late += behind > self.data_tick_s
        self.late_max_s = max(self.late_max_s, behind)
        return t

    @property
    def has_time(self) -> bool:
        """False in data mode before the first reading: homes must not be judged at the wall clock then
        (it would move every home's state to the end of a replay: a door opened would count as left)."""
        return self.mode != DATA or self.data_now is not None

    def now(self, *, wall: datetime) -> datetime:
        """The rules' now: the wall clock, or the data clock (the wall clock until a reading came)."""
        return self.data_now or wall if self.mode == DATA else wall

    def tick_due(self, *, mono: float) -> bool:
        """Whether a tick round should start now (``mono``: a monotonic wall clock); if so, it is noted."""
        if self._tick_wall is None:
            self._tick_wall, self._tick_data = mono, self.data_now
            return False
        due = mono - self._tick_wall >= self.tick_s
        if self.mode == DATA and self.data_now is not None:
            last = self._tick_data
            due = due or last is None or (self.data_now - last).total_seconds() >= self.data_tick_s
        if due:
            self._tick_wall, self._tick_data = mono, self.data_now
        return due
