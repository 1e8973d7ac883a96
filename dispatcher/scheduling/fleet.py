"""Fewest vehicles first: a first solve, route elimination (ejection pool or OR-Tools), then a distance polish."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import time
from collections.abc import Callable

from dispatcher.scheduling.ejection import Route, remove_one_route, vrptw_of
from dispatcher.scheduling.engine import solve_spec
from dispatcher.scheduling.ruin import ruin_recreate
from dispatcher.scheduling.spec import RawSolution, RawVisit, RoutingSpec, SearchSpec, SolveStatus

FIRST_SHARE = 0.1  # of the time limit for the first solve
ELIMINATE_UNTIL = 0.6  # route elimination stops at this share of the limit at the latest
RUIN_UNTIL = 0.98  # then ruin-and-recreate shortens the routes (the rest: margin to read them out)
BURST_SHARE = 0.02  # of the limit: ruin-and-recreate after each route removed by the ejection pool
ATTEMPT_SHARE = 0.25  # at most, per OR-Tools route-elimination attempt (it stops early on success)
_OK = (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL)


def _routes(raw: RawSolution) -> list[list[int]]:
    return [[x.node for x in r] for r in raw.routes if r]


def _with_fleet(spec: RoutingSpec, vehicles: int, penalty: int) -> RoutingSpec:
    """The spec with ``vehicles`` vehicles and every visit droppable at ``penalty``."""
    nodes = [
        n if i in spec.depots else dataclasses.replace(n, penalty=penalty) for i, n in enumerate(spec.nodes)
    ]
    return dataclasses.replace(spec, nodes=nodes, vehicles=spec.vehicles[:vehicles])


def minimise_vehicles(spec: RoutingSpec, search: SearchSpec, *, seed: int = 0) -> RawSolution:
    """Hierarchical objective (vehicles, then cost) for specs whose visits are all mandatory.

    A first solve uses a tenth of the limit. Route elimination then runs until 60 % of it at most: on
    plain VRPTW specs (one depot, identical vehicles, one window per visit) an ejection-pool heuristic
    empties one route at a time (see ``ejection``), each success followed by a short ruin-and-recreate
    burst (2 % of the limit) so the next removal starts from short routes; annealed ruin-and-recreate
    (see ``ruin``) then shortens the routes until 98 % of the limit and they are read out as they are
    (it beats an OR-Tools polish of the same length there). On other specs OR-Tools re-solves with one
    vehicle fewer and droppable visits, and polishes distance in the rest of the limit, the vehicle
    count fixed and no fixed vehicle cost (a fixed cost on the first arc of each route misleads guided
    local search).

    Args:
        spec: Integer routing data (vehicles identical, as in Solomon instances).
        search: Search settings; ``time_limit_s`` bounds the whole procedure.
        seed: Seed of the elimination heuristic's random choices.

    Returns:
        The best raw solution found (with the wall time of the whole procedure), one route per vehicle.
    """
    began = time.perf_counter()
    limit = search.time_limit_s
    best = solve_spec(spec, dataclasses.replace(search, time_limit_s=limit * FIRST_SHARE))
    if best.status not in _OK or best.dropped:
        best.wall_s = time.perf_counter() - began
        return best
    deadline = began + limit * ELIMINATE_UNTIL
    rng = random.Random(seed)
    routes = _eliminate(spec, search, _routes(best), deadline, rng)
    plain = vrptw_of(spec)
    if plain is not None:  # annealed ruin-and-recreate outperforms the OR-Tools polish on these specs
        routes = ruin_recreate(plain, routes, deadline=began + limit * RUIN_UNTIL, rng=rng)
        best = _padded(_as_raw(spec, routes), len(spec.vehicles))
        best.wall_s = time.perf_counter() - began
        return best
    remaining = limit - (time.perf_counter() - began)
    trial = dataclasses.replace(
        spec, vehicles=[dataclasses.replace(v, fixed_cost=0) for v in spec.vehicles[: len(routes)]]
    )
    polished = solve_spec(
        trial, dataclasses.replace(search, time_limit_s=max(0.1, remaining), initial_routes=routes)
    )
    if polished.status in _OK and not polished.dropped:
        best = _padded(polished, len(spec.vehicles))
    best.wall_s = time.perf_counter() - began
    return best


def _eliminate(
    spec: RoutingSpec, search: SearchSpec, routes: list[list[int]], deadline: float, rng: random.Random
) -> list[list[int]]:
    """Remove routes one at a time until ``deadline`` or the capacity bound; the last full solution."""
    bound = max(1, _capacity_bound(spec))
    plain = vrptw_of(spec)
    step: Callable[[list[list[int]]], list[list[int]] | None]
    if plain is not None:

        def step(current: list[list[int]]) -> list[list[int]] | None:
            fewer = remove_one_route(plain, current, deadline=deadline, rng=rng)
            if fewer is None:
                return None
            burst = min(deadline, time.perf_counter() + search.time_limit_s * BURST_SHARE)
            return ruin_recreate(plain, fewer, deadline=burst, rng=rng)  # shorter routes at this count

    else:

        def step(current: list[list[int]]) -> list[list[int]] | None:
            return _ortools_step(spec, search, current, deadline)

    while len(routes) > bound and time.perf_counter() < deadline:
        fewer = step(routes)
        if fewer is None:
            break
        routes = [r for r in fewer if r]
    return routes


def _ortools_step(
    spec: RoutingSpec, search: SearchSpec, routes: list[list[int]], deadline: float
) -> list[list[int]] | None:
    """One vehicle fewer by OR-Tools: the shortest route's visits droppable at more than the fleet costs."""
    fixed = max(1, max((v.fixed_cost for v in spec.vehicles), default=1))
    shortest = min(range(len(routes)), key=lambda i: len(routes[i]))
    seed = [r for i, r in enumerate(routes) if i != shortest]
    trial = _with_fleet(spec, len(seed), (len(seed) + 2) * fixed)
    budget = min(deadline - time.perf_counter(), search.time_limit_s * ATTEMPT_SHARE)
    attempt = solve_spec(
        trial,
        dataclasses.replace(
            search, time_limit_s=max(0.1, budget), initial_routes=seed, stop_below=(len(seed) + 1) * fixed
        ),
    )
    if attempt.status not in _OK or attempt.dropped:
        return None
    return _routes(attempt)


def _as_raw(spec: RoutingSpec, routes: list[list[int]]) -> RawSolution:
    """Eliminated routes as a raw solution (earliest service starts) without a polish."""
    plain = vrptw_of(spec)
    assert plain is not None  # only the ejection pool returns routes the model could not read
    raw_routes, depart, arrive = [], [], []
    for nodes in routes:
        r = Route(plain, nodes)
        visits, prev = [], plain.depot
        for k, n in enumerate(nodes):
            arrival = r.leave[k] + plain.travel[prev][n]
            visits.append(RawVisit(node=n, start=r.leave[k + 1] - plain.service[n], arrival=arrival))
            prev = n
        raw_routes.append(visits)
        depart.append(plain.start)
        arrive.append(r.leave[-1] + plain.travel[prev][plain.depot])
    cost = sum(
        plain.cost[a][b] for r in routes for a, b in itertools.pairwise([plain.depot, *r, plain.depot])
    )
    return RawSolution(
        status=SolveStatus.FEASIBLE,
        routes=raw_routes,
        depart=depart,
        arrive=arrive,
        breaks=[[] for _ in routes],
        dropped=[],
        objective=cost,
        wall_s=0.0,
        routing_status="ejection pool, not polished",
    )


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
