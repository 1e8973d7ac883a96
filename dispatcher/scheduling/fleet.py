"""Fewest vehicles first: solve, then repeatedly remove the shortest route and re-insert its visits elsewhere."""

from __future__ import annotations

import dataclasses
import math
import time

from dispatcher.scheduling.engine import solve_spec
from dispatcher.scheduling.spec import RawSolution, RoutingSpec, SearchSpec, SolveStatus

FIRST_SHARE = 0.4  # of the time limit for the first solve
POLISH_SHARE = 0.15  # of the time limit kept for polishing the best solution
ATTEMPT_SHARE = 0.25  # at most, per route-elimination attempt (it stops early on success)
_OK = (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL)


def _routes(raw: RawSolution) -> list[list[int]]:
    return [[x.node for x in r] for r in raw.routes if r]


def _with_fleet(spec: RoutingSpec, vehicles: int, penalty: int) -> RoutingSpec:
    """The spec with ``vehicles`` vehicles and every visit droppable at ``penalty``."""
    nodes = [
        n if i in spec.depots else dataclasses.replace(n, penalty=penalty) for i, n in enumerate(spec.nodes)
    ]
    return dataclasses.replace(spec, nodes=nodes, vehicles=spec.vehicles[:vehicles])


def minimise_vehicles(spec: RoutingSpec, search: SearchSpec) -> RawSolution:
    """Hierarchical objective (vehicles, then cost) for specs whose visits are all mandatory.

    A first solve uses part of the limit; then, while time remains, the route with the fewest visits is
    removed and the others seed a solve with one vehicle fewer, in which leaving a visit out costs more
    than the whole fleet; that search stops as soon as it serves every visit, and its result is kept only
    then. The rest of the limit polishes the best solution (cost only, its vehicle count fixed).

    Args:
        spec: Integer routing data (vehicles identical, as in Solomon instances).
        search: Search settings; ``time_limit_s`` bounds the whole procedure.

    Returns:
        The best raw solution found (with the wall time of the whole procedure).
    """
    began = time.perf_counter()
    limit = search.time_limit_s

    def left() -> float:
        return limit - (time.perf_counter() - began)

    best = solve_spec(spec, dataclasses.replace(search, time_limit_s=limit * FIRST_SHARE))
    fixed = max(1, max((v.fixed_cost for v in spec.vehicles), default=1))  # exceeds any route's cost
    while best.status in _OK and not best.dropped and left() > limit * POLISH_SHARE:
        routes = _routes(best)
        if len(routes) <= max(1, _capacity_bound(spec)):
            break
        shortest = min(range(len(routes)), key=lambda i: len(routes[i]))
        seed = [r for i, r in enumerate(routes) if i != shortest]
        # a dropped visit costs more than the whole fleet: below (k + 1) fixed costs, nothing is dropped
        trial = _with_fleet(spec, len(seed), (len(seed) + 2) * fixed)
        attempt = solve_spec(
            trial,
            dataclasses.replace(
                search,
                time_limit_s=min(left() - limit * POLISH_SHARE, limit * ATTEMPT_SHARE),
                initial_routes=seed,
                stop_below=(len(seed) + 1) * fixed,
            ),
        )
        if attempt.status not in _OK or attempt.dropped:
            break
        best = _padded(attempt, len(spec.vehicles))
    if best.status in _OK and left() > 0.5:
        routes = _routes(best)
        trial = dataclasses.replace(spec, vehicles=spec.vehicles[: len(routes)])
        polished = solve_spec(trial, dataclasses.replace(search, time_limit_s=left(), initial_routes=routes))
        if polished.status in _OK and not polished.dropped and polished.objective <= best.objective:
            best = _padded(polished, len(spec.vehicles))
    best.wall_s = time.perf_counter() - began
    return best


def _padded(raw: RawSolution, vehicles: int) -> RawSolution:
    """Extend per-vehicle lists with empty routes so the solution lines up with the full fleet."""
    extra = vehicles - len(raw.routes)
    return dataclasses.replace(
        raw,
        routes=raw.routes + [[] for _ in range(extra)],
        depart=raw.depart + [0] * extra,
        arrive=raw.arrive + [0] * extra,
        breaks=raw.breaks + [[] for _ in range(extra)],
    )


def _capacity_bound(spec: RoutingSpec) -> int:
    """Vehicles needed for the total demand alone (0 without a capacity dimension)."""
    if not spec.use_capacity or not spec.vehicles:
        return 0
    return math.ceil(sum(n.demand for n in spec.nodes) / max(1, max(v.capacity for v in spec.vehicles)))
