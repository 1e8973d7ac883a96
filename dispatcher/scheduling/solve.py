"""Plan a station-day: data -> pre-check -> model -> solve -> status -> extract."""

from __future__ import annotations

from dispatcher.errors import InvalidProblem
from dispatcher.scheduling.compile import compile_problem
from dispatcher.scheduling.extract import extract_plan
from dispatcher.scheduling.phases import solve_with_pairs
from dispatcher.scheduling.precheck import places, precheck
from dispatcher.scheduling.problem import Plan, Problem
from dispatcher.scheduling.spec import SearchSpec
from dispatcher.travel import TravelTimeProvider


def solve(
    problem: Problem,
    *,
    time_limit_s: float = 10.0,
    travel: TravelTimeProvider | None = None,
    metaheuristic: str = "GUIDED_LOCAL_SEARCH",
) -> Plan:
    """Solve a care problem within a time limit; never raises on an infeasible problem.

    Tasks nobody can do are reported before solving (missing skill, outside every circle, window
    shorter than the visit, no same-sex carer …); the rest go to the routing model, where dropping a
    task costs a priority-weighted penalty.

    Args:
        problem: Stations, caregivers and tasks.
        time_limit_s: Wall-clock limit for the search (must be positive).
        travel: Travel-time provider (default: cached great-circle × 1.3 at the mode's speed).
        metaheuristic: OR-Tools local-search metaheuristic name.

    Returns:
        The plan with status optimal/feasible/infeasible/timeout/model_invalid.
    """
    if time_limit_s <= 0:
        raise InvalidProblem("time_limit_s must be positive")
    where = places(problem, travel)
    able, unable = precheck(problem, where)
    spec, nm = compile_problem(problem, where, able)
    raw = solve_with_pairs(spec, SearchSpec(time_limit_s=time_limit_s, metaheuristic=metaheuristic))
    return extract_plan(problem, spec, nm, raw, unable)
