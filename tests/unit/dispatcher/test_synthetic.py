from __future__ import annotations

import pytest

from dispatcher.scheduling.solve import solve
from dispatcher.scheduling.verify import verify_plan
from dispatcher.synthetic import station_day

from .helpers import assert_sound


@pytest.mark.parametrize("seed", [1, 2])
def test_synthetic_day_plans_are_sound(seed: int) -> None:
    prob = station_day(seed, n_caregivers=10, n_tasks=50, double_share=0.15)
    assert sum(t.carers == 2 for t in prob.tasks) == 8
    plan = solve(prob, time_limit_s=2)
    assert_sound(plan)
    assert verify_plan(plan) == []
    served = {v.task_id for r in plan.routes for v in r.visits}
    assert len(served) >= 0.6 * len(prob.tasks)
    assert any(t.carers == 2 and t.id in served for t in prob.tasks)
