"""Double-handed visits: the full model solved directly, and a relaxed solve (pairs only kept apart) seeding it."""

from __future__ import annotations

import dataclasses
import time as _time

from dispatcher.scheduling.engine import solve_spec
from dispatcher.scheduling.spec import NodeSpec, RawSolution, RoutingSpec, SearchSpec, interchangeable

DIRECT_SHARE = 0.5  # of the limit for the full model solved directly
DIRECT_FIRST_SOLUTION = "LOCAL_CHEAPEST_COST_INSERTION"  # insertion by full cost (lateness, penalties)
RELAXED_SHARE = 0.7  # of the rest for the relaxed solve that seeds the full model


def fix_pair_starts(spec: RoutingSpec) -> RoutingSpec:
    """Give both visits of each pair one common start, mid-way in their first common on-time range (5-min grid).

    The seeded path uses this (the direct solve leaves starts free): equal one-value windows keep the two
    copies compatible while the pair constraints are off, and let the full model read the relaxed routes
    back (with breaks, the free-start model cannot).
    """
    nodes = list(spec.nodes)
    for a, b in spec.sync:
        (lo_a, hi_a), (lo_b, hi_b) = _on_time(nodes[a]), _on_time(nodes[b])
        lo, hi = max(lo_a, lo_b), min(hi_a, hi_b)
        if hi < lo:
            continue
        mid = lo + (hi - lo) // 2 // 5 * 5
        for n in (a, b):
            nodes[n] = dataclasses.replace(nodes[n], starts=[(mid, mid)])
    return dataclasses.replace(spec, nodes=nodes)


def _on_time(node: NodeSpec) -> tuple[int, int]:
    """The first start range of a node, cut at its latest start without lateness."""
    lo, hi = node.starts[0]
    if node.soft_latest is not None:
        hi = max(lo, min(hi, node.soft_latest[0]))
    return lo, hi


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
        if a in vehicle and b in vehicle and vehicle[a] > vehicle[b] and interchangeable(spec, a, b):
            swap |= {a: b, b: a}
    return [[swap.get(n, n) for n in r if n not in lone] for r in routes]


def solve_with_pairs(spec: RoutingSpec, search: SearchSpec) -> RawSolution:
    """Solve a spec with synchronised pairs or precedences two ways within one limit; keep the cheaper plan.

    First the full model directly (pairs and precedences are node precedences of the time dimension,
    which the search's filters see) with pair starts free in their windows, from a cost-aware insertion,
    for DIRECT_SHARE of the limit; then, with pairs, the relaxed solve (pairs only kept apart, starts
    pinned mid-window) seeding the pinned full model for the rest (without pairs: the full model again
    from the usual first solution). Local search moves one visit at a time, so a pair or a precedence
    stays about where the first solution put it: two different starts get out of more traps than one
    longer search (Mankowska instances). Days with breaks skip the direct solve: there the pair
    equality defeats the insertion heuristics and the direct search finds nothing in its share
    (synthetic 500-task day), while the pinned path plans it.

    Args:
        spec: Integer routing data.
        search: Search settings; its time limit covers every phase.

    Returns:
        The raw solution of the full model with the lower objective (or of the relaxed one, without
        half-served pairs, when the full search finds nothing).
    """
    if not (spec.sync or spec.gaps) or search.initial_routes is not None:
        return solve_spec(spec, search)
    began = _time.perf_counter()
    candidates: list[RawSolution] = []
    if not any(v.breaks for v in spec.vehicles):
        direct_search = dataclasses.replace(
            search, time_limit_s=search.time_limit_s * DIRECT_SHARE, first_solution=DIRECT_FIRST_SOLUTION
        )
        candidates.append(solve_spec(spec, direct_search))
    budget = max(0.2, search.time_limit_s - (_time.perf_counter() - began))
    if not spec.sync:
        other = solve_spec(spec, dataclasses.replace(search, time_limit_s=budget))
        return _cheaper([*candidates, other], other, began)
    fixed = fix_pair_starts(spec)
    first = solve_spec(relax(fixed), dataclasses.replace(search, time_limit_s=budget * RELAXED_SHARE))
    routes = seed_routes(spec, [[v.node for v in r] for r in first.routes])
    remaining = max(0.2, search.time_limit_s - (_time.perf_counter() - began))
    # seeded with pinned pair starts: with breaks, the free-start model cannot even read the seed back
    second = solve_spec(fixed, dataclasses.replace(search, time_limit_s=remaining, initial_routes=routes))
    if any(_found(r) for r in (*candidates, second)) or not _found(first):
        return _cheaper([*candidates, second], second, began)
    return strip_lone(spec, first)


def _found(raw: RawSolution) -> bool:
    return raw.status.value in ("feasible", "optimal")


def _cheaper(candidates: list[RawSolution], fallback: RawSolution, began: float) -> RawSolution:
    """The found solution with the lowest objective (``fallback`` when none was found), timed from ``began``."""
    found = [r for r in candidates if _found(r)]
    best = min(found, key=lambda r: r.objective) if found else fallback
    best.wall_s = _time.perf_counter() - began
    return best


def strip_lone(spec: RoutingSpec, raw: RawSolution) -> RawSolution:
    """Remove a pair visit whose partner is not served (the relaxed model allows it); later starts stay valid."""
    served = {x.node for r in raw.routes for x in r}
    lone = {n for a, b in spec.sync for n in (a, b) if (a in served) != (b in served)}
    if not lone:
        return raw
    routes = [[x for x in r if x.node not in lone] for r in raw.routes]
    return dataclasses.replace(raw, routes=routes, dropped=sorted({*raw.dropped, *lone}))
