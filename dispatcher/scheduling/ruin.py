"""Distance at a fixed route count: ruin strings of visits near a seed (SISR) and recreate with blinks."""

from __future__ import annotations

import random
import time

from dispatcher.scheduling.ejection import Route, Vrptw

AVG_RUIN = 10  # visits removed per step on average (SISR's c-bar)
MAX_STRING = 10  # longest string removed from one route (SISR's L-max)
BLINK = 0.01  # chance an insertion position is skipped
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

    Each step removes strings of consecutive visits from the routes nearest a random seed visit
    (Christiaens & Vanden Berghe's SISR ruin), then re-inserts them in a random, demand, distance or
    window order at their cheapest feasible places, each place skipped with a small chance (blinks);
    the result is kept when every visit found a place and the distance grew by less than a threshold
    that falls linearly to zero at the deadline.

    Args:
        p: Plain VRPTW data.
        routes: A feasible solution (it is not modified).
        deadline: ``time.perf_counter()`` value at which to stop.
        rng: Random source.

    Returns:
        The shortest feasible routes found (never more routes than given).
    """
    current = [list(r) for r in routes if r]
    if not current:
        return current
    cost = routes_cost(p, current)
    best, best_cost = current, cost
    visits = [n for r in current for n in r]
    near = {v: sorted(visits, key=lambda w: p.cost[v][w] + p.cost[w][v]) for v in visits}
    began = time.perf_counter()
    while (now := time.perf_counter()) < deadline:
        threshold = START_THRESHOLD * (deadline - now) / max(1e-9, deadline - began)
        kept, pending = _ruin(current, near[rng.choice(visits)], rng)
        work = [Route(p, list(r)) for r in kept]  # insertion must not touch the current routes
        if all(_insert_blink(p, work, v, rng) for v in _order(p, pending, rng)):
            trial = [r.nodes for r in work if r.nodes]
            trial_cost = routes_cost(p, trial)
            if trial_cost <= cost * (1 + threshold):  # threshold accepting, falling to 0
                current, cost = trial, trial_cost
                if cost < best_cost:
                    best, best_cost = current, cost
    return best


def _ruin(
    routes: list[list[int]], around: list[int], rng: random.Random
) -> tuple[list[list[int]], list[int]]:
    """Remove one string of consecutive visits from each of a few routes met nearest the seed."""
    mean_len = sum(len(r) for r in routes) / len(routes)
    ls_max = min(MAX_STRING, mean_len)
    ks_max = 4 * AVG_RUIN / (1 + ls_max) - 1
    strings = int(rng.uniform(1, ks_max + 1))
    where = {n: i for i, r in enumerate(routes) for n in r}
    kept, removed, done = list(routes), [], set[int]()
    for c in around:
        if len(done) >= strings:
            break
        ri = where[c]
        if ri in done:
            continue
        done.add(ri)
        r = kept[ri]
        size = int(rng.uniform(1, min(len(r), ls_max) + 1))
        at = r.index(c)
        first = rng.randint(max(0, at - size + 1), min(at, len(r) - size))
        removed.extend(r[first : first + size])
        kept[ri] = r[:first] + r[first + size :]
    return kept, removed


def _order(p: Vrptw, pending: list[int], rng: random.Random) -> list[int]:
    """SISR's recreate orders: random, demand, far from the depot, or tight window first."""
    pick = rng.choices(range(4), weights=(4, 4, 2, 1))[0]
    rng.shuffle(pending)
    if pick == 1:
        pending.sort(key=lambda v: -p.demand[v])
    elif pick == 2:
        pending.sort(key=lambda v: -p.cost[p.depot][v])
    elif pick == 3:
        pending.sort(key=lambda v: p.due[v] - p.ready[v])
    return pending


def _insert_blink(p: Vrptw, routes: list[Route], v: int, rng: random.Random) -> bool:
    """Insert ``v`` at its cheapest feasible position, each better position skipped with chance BLINK."""
    t, c = p.travel, p.cost
    ready, due, tail = p.ready[v], p.due[v], p.service[v]
    bound, at = 1 << 62, None
    for r in routes:
        if p.capacity and r.load + p.demand[v] > p.capacity:
            continue
        seq, leave, latest = [p.depot, *r.nodes, p.depot], r.leave, r.latest
        for k in range(len(seq) - 1):
            prev, nxt = seq[k], seq[k + 1]
            delta = c[prev][v] + c[v][nxt] - c[prev][nxt]
            if delta >= bound:
                continue
            start = max(ready, leave[k] + t[prev][v])
            if start <= due and start + tail + t[v][nxt] <= latest[k] and rng.random() >= BLINK:
                bound, at = delta, (r, k)
    if at is None:
        return False
    at[0].nodes.insert(at[1], v)
    at[0].refresh(p)
    return True
