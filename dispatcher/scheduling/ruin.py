"""Distance at a fixed route count: ruin a neighbourhood of visits and recreate it by cheapest insertion."""

from __future__ import annotations

import random
import time

from dispatcher.scheduling.ejection import Route, Vrptw, insert_cheapest

MIN_RUIN, MAX_RUIN = 4, 14  # visits removed per step
START_THRESHOLD = 0.01  # a step may lengthen the routes by this share at first, by nothing at the end


def routes_cost(p: Vrptw, routes: list[list[int]]) -> int:
    """Sum of arc costs, depot to depot."""
    total = 0
    for r in routes:
        prev = p.depot
        for n in [*r, p.depot]:
            total += p.cost[prev][n]
            prev = n
    return total


def ruin_recreate(
    p: Vrptw, routes: list[list[int]], *, deadline: float, rng: random.Random
) -> list[list[int]]:
    """Shorten the routes without adding one, until ``deadline``.

    Each step removes a visit and its nearest neighbours, then re-inserts them in random order at
    their cheapest feasible places; the result is kept when every visit found a place and the
    distance grew by less than a threshold that falls linearly to zero at the deadline.

    Args:
        p: Plain VRPTW data.
        routes: A feasible solution (it is not modified).
        deadline: ``time.perf_counter()`` value at which to stop.
        rng: Random source.

    Returns:
        The shortest feasible routes found (never more routes than given).
    """
    current = [list(r) for r in routes if r]
    cost = routes_cost(p, current)
    best, best_cost = current, cost
    visits = [n for r in current for n in r]
    near = {v: sorted(visits, key=lambda w: p.cost[v][w] + p.cost[w][v]) for v in visits}
    began = time.perf_counter()
    while (now := time.perf_counter()) < deadline:
        threshold = START_THRESHOLD * (deadline - now) / max(1e-9, deadline - began)
        seed = rng.choice(visits)
        drop = set(near[seed][: rng.randint(MIN_RUIN, MAX_RUIN)])
        work = [Route(p, [n for n in r if n not in drop]) for r in current]
        pending = list(drop)
        rng.shuffle(pending)
        if all(insert_cheapest(p, work, v) for v in pending):
            trial = [r.nodes for r in work if r.nodes]
            trial_cost = routes_cost(p, trial)
            if trial_cost <= cost * (1 + threshold):  # threshold accepting, falling to 0
                current, cost = trial, trial_cost
                if cost < best_cost:
                    best, best_cost = current, cost
    return best
