"""Synthetic station-day benchmark: solve time, assigned share, travel, re-checked violations, re-plan latency."""

from __future__ import annotations

import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from dispatcher.domain import Task, TaskKind, Window
from dispatcher.errors import BenchmarkInputError
from dispatcher.scheduling.replan import replan
from dispatcher.scheduling.solve import solve
from dispatcher.scheduling.verify import verify_plan
from dispatcher.synthetic import station_day, task

N_CAREGIVERS, N_TASKS, N_URGENT = 40, 500, 20


def urgent_tasks(seed: int, count: int = N_URGENT) -> list[tuple[int, Task]]:
    """``count`` seeded urgent tasks (emergency, priority 5, due within 60 min) with their ``now`` minute."""
    rng = random.Random(seed + 1)
    out = []
    for k in range(count):
        now = rng.randrange(540, 960, 5)
        base = task(rng, f"urgent{k:02d}")
        out.append(
            (
                now,
                base.model_copy(
                    update={
                        "kind": TaskKind.EMERGENCY,
                        "priority": 5,
                        "duration": 30,
                        "skills": frozenset(),
                        "same_sex": False,
                        "windows": (Window(start=now, end=now + 90),),
                    }
                ),
            )
        )
    return out


def run(
    *, time_limit_s: float = 60.0, seed: int = 7, on_step: Callable[[str, int, int], None] | None = None
) -> dict[str, Any]:
    """Solve the synthetic day, re-check it, then time 20 urgent insertions (each into the base plan)."""
    if time_limit_s <= 0:
        raise BenchmarkInputError("time limit must be positive")
    problem = station_day(seed, n_caregivers=N_CAREGIVERS, n_tasks=N_TASKS)
    if on_step:
        on_step("solve", 0, 1 + N_URGENT)
    began = time.perf_counter()
    plan = solve(problem, time_limit_s=time_limit_s)
    solve_s = time.perf_counter() - began
    violations = verify_plan(plan)
    unassigned = {u.task_id for u in plan.unassigned}
    timings, inserted, replan_violations, bumped, moved = [], 0, 0, 0, 0
    for k, (now, urgent) in enumerate(urgent_tasks(seed)):
        if on_step:
            on_step(f"replan {urgent.id}", k + 1, 1 + N_URGENT)
        t0 = time.perf_counter()
        new, diff = replan(plan, urgent, now)
        timings.append((time.perf_counter() - t0) * 1000)
        inserted += bool(diff.assigned_to)
        bumped += len({u.task_id for u in new.unassigned} - unassigned - {urgent.id})
        moved += len(diff.moved)
        replan_violations += len(verify_plan(new))
    return {
        "status": plan.status.value,
        "solve_s": round(solve_s, 2),
        "tasks": len(problem.tasks),
        "double_handed": sum(1 for t in problem.tasks if t.carers == 2),
        "skill_restricted": sum(1 for t in problem.tasks if t.skills),
        "assigned_share": round(1 - len(unassigned) / len(problem.tasks), 4),
        "double_handed_assigned": sum(1 for t in problem.tasks if t.carers == 2 and t.id not in unassigned),
        "bathing_caregivers": sum(1 for c in problem.caregivers if "bathing" in c.skills),
        "unassigned_by_reason": _count(u.code.value for u in plan.unassigned),
        "travel_minutes": plan.travel_minutes,
        "window_violations": sum(1 for v in violations if "outside windows" in v),
        "violations": len(violations),
        "replan_ms_p50": round(statistics.median(timings), 1),
        "replan_ms_p95": round(_p95(timings), 1),
        "replan_inserted": inserted,
        "replan_violations": replan_violations,
        "replan_bumped_visits": bumped,  # visits displaced by the 20 urgent tasks and left unassigned
        "replan_moved_visits_mean": round(moved / N_URGENT, 1),  # caregiver or start changed
        "conditions": _conditions(time_limit_s, seed),
    }


def _count(codes: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in codes:
        out[c] = out.get(c, 0) + 1
    return out


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _conditions(time_limit_s: float, seed: int) -> dict[str, Any]:
    return {
        "time_limit_s": time_limit_s,
        "seed": seed,
        "caregivers": N_CAREGIVERS,
        "urgent_insertions": N_URGENT,
        "replan_time_limit_s": 1.0,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "ortools": version("ortools"),
        "travel": "haversine x1.3, walk 4.5 km/h, e-bike 15 km/h",
    }
