"""Re-check a plan against the raw instance (not the product's model) and compute the published objective.

Everything here uses the instance's own unrounded distance matrix and minutes: skills per service, every
requested (patient, service) served exactly once, travel and processing times along each route, opening
times, simultaneous starts on two caregivers, precedence gaps; then D, T, Tmax and (D + T + Tmax) / 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dispatcher.hhc.instance import HhcInstance
from dispatcher.hhc.mapping import SCALE, Mapped
from dispatcher.scheduling.problem import Plan

EPS = 1e-6


@dataclass(slots=True)
class Checked:
    """The re-check's findings and the objective's parts (instance minutes / distance units)."""

    problems: list[str] = field(default_factory=list)
    distance: float = 0.0
    tardiness: float = 0.0
    max_tardiness: float = 0.0

    @property
    def objective(self) -> float:
        """Mankowska et al. (2014): lambda1 = lambda2 = lambda3 = 1/3."""
        return (self.distance + self.tardiness + self.max_tardiness) / 3


def check(inst: HhcInstance, mapped: Mapped, plan: Plan) -> Checked:
    """Re-check ``plan`` (made for ``mapped``) against ``inst``."""
    out = Checked()
    when: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for route in plan.routes:
        v = mapped.caregiver_index[route.caregiver_id]
        prev, free = 0, 0.0
        for visit in route.visits:
            i, s = mapped.service_of[(visit.task_id, visit.role)]
            t = visit.start / SCALE
            if s not in inst.skills[v]:
                out.problems.append(f"caregiver {v} is not qualified for service {s + 1} of patient {i}")
            if t < inst.e[i] - EPS:
                out.problems.append(f"patient {i} service {s + 1} starts {t:.2f} before {inst.e[i]}")
            if t < free + inst.d[prev][i] - EPS:
                out.problems.append(f"caregiver {v} cannot reach patient {i} by {t:.2f}")
            out.distance += inst.d[prev][i]
            when.setdefault((i, s), []).append((v, t))
            prev, free = i, t + inst.p[i]
        if route.visits:
            out.distance += inst.d[prev][0]
    _check_services(inst, when, out)
    return out


def _check_services(
    inst: HhcInstance, when: dict[tuple[int, int], list[tuple[int, float]]], out: Checked
) -> None:
    lateness = []
    if set(when) - {(i, s) for i in inst.patients for s in inst.services[i]}:
        out.problems.append("a service nobody requested was served")
    for i in inst.patients:
        got = {s: when.get((i, s), []) for s in inst.services[i]}
        if any(len(x) != 1 for x in got.values()):
            out.problems.append(
                f"patient {i}: services served {[len(x) for x in got.values()]} times, not once"
            )
            continue
        starts = [got[s][0] for s in inst.services[i]]
        lateness += [max(0.0, t - inst.l[i]) for _, t in starts]
        if len(starts) == 2:
            (v1, t1), (v2, t2) = starts
            if inst.simultaneous(i) and (abs(t1 - t2) > EPS or v1 == v2):
                out.problems.append(f"patient {i}: not simultaneous on two caregivers ({v1}@{t1}, {v2}@{t2})")
            if not inst.simultaneous(i) and not inst.mind[i] - EPS <= t2 - t1 <= inst.maxd[i] + EPS:
                out.problems.append(f"patient {i}: gap {t2 - t1:.2f} outside {inst.mind[i]}..{inst.maxd[i]}")
    out.tardiness = sum(lateness)
    out.max_tardiness = max(lateness, default=0.0)
