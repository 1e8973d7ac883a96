"""Double-handed visits in two phases: a relaxed solve (pairs only kept apart) seeds the synchronised one."""

from __future__ import annotations

import dataclasses
import time as _time

from dispatcher.scheduling.engine import solve_spec
from dispatcher.scheduling.spec import RawSolution, RoutingSpec, SearchSpec

RELAXED_SHARE = 0.7


def fix_pair_starts(spec: RoutingSpec) -> RoutingSpec:
    """Give both visits of each pair one common start: the middle of the first start range (5-min grid).

    Equal one-value windows synchronise the pair through the time windows, which the search heuristics
    understand; a cumul-equality constraint alone (together with breaks) defeats them.
    """
    nodes = list(spec.nodes)
    for a, b in spec.sync:
        lo, hi = nodes[a].starts[0]
        mid = lo + (hi - lo) // 2 // 5 * 5
        for n in (a, b):
            nodes[n] = dataclasses.replace(nodes[n], starts=[(mid, mid)])
    return dataclasses.replace(spec, nodes=nodes)


def relax(spec: RoutingSpec) -> RoutingSpec:
    """Drop the both-or-neither/cumul constraints of pairs, keeping only "different vehicles"."""
    return dataclasses.replace(spec, sync=[], apart=list(spec.sync))


def seed_routes(spec: RoutingSpec, routes: list[list[int]]) -> list[list[int]]:
    """Make relaxed routes valid for the full model.

    A pair visit whose partner is not served is removed (removing a visit never breaks a route), and
    the two copies of a pair are swapped where needed so the first copy rides the lower vehicle.
    """
    vehicle = {n: v for v, r in enumerate(routes) for n in r}
    lone = {n for a, b in spec.sync for n in (a, b) if (a in vehicle) != (b in vehicle)}
    swap: dict[int, int] = {}
    for a, b in spec.sync:
        if a in vehicle and b in vehicle and vehicle[a] > vehicle[b]:
            swap |= {a: b, b: a}
    return [[swap.get(n, n) for n in r if n not in lone] for r in routes]


def solve_with_pairs(spec: RoutingSpec, search: SearchSpec) -> RawSolution:
    """Solve a spec; when it has synchronised pairs and no initial routes, seed it from the relaxed solve.

    Args:
        spec: Integer routing data.
        search: Search settings; its time limit covers both phases.

    Returns:
        The raw solution of the full model (or of the relaxed one, without half-served pairs, when the
        full search finds nothing).
    """
    if not spec.sync or search.initial_routes is not None:
        return solve_spec(spec, search)
    began = _time.perf_counter()
    fixed = fix_pair_starts(spec)
    first = solve_spec(
        relax(fixed), dataclasses.replace(search, time_limit_s=search.time_limit_s * RELAXED_SHARE)
    )
    routes = seed_routes(spec, [[v.node for v in r] for r in first.routes])
    remaining = max(0.2, search.time_limit_s - (_time.perf_counter() - began))
    second = solve_spec(fixed, dataclasses.replace(search, time_limit_s=remaining, initial_routes=routes))
    if second.status.value in ("feasible", "optimal") or first.status.value not in ("feasible", "optimal"):
        second.wall_s = _time.perf_counter() - began
        return second
    return strip_lone(spec, first)


def strip_lone(spec: RoutingSpec, raw: RawSolution) -> RawSolution:
    """Remove a pair visit whose partner is not served (the relaxed model allows it); later starts stay valid."""
    served = {x.node for r in raw.routes for x in r}
    lone = {n for a, b in spec.sync for n in (a, b) if (a in served) != (b in served)}
    if not lone:
        return raw
    routes = [[x for x in r if x.node not in lone] for r in raw.routes]
    return dataclasses.replace(raw, routes=routes, dropped=sorted({*raw.dropped, *lone}))
