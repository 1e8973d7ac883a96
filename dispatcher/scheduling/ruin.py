"""Distance at a fixed route count: SISR string ruin, blink recreate and simulated-annealing acceptance."""

from __future__ import annotations

import math
import random
import time
from bisect import bisect_left, bisect_right

from dispatcher.scheduling.vrptw import Vrptw

AVG_RUIN = 10  # visits removed per step on average (SISR's c-bar)
MAX_STRING = 10  # longest string removed from one route (SISR's L-max)
SPLIT = 0.5  # chance a string keeps a run of its visits in place (SISR's split-string)
KEEP_MORE = 0.99  # chance the kept run grows by one more visit (1 - SISR's beta)
BLINK = 0.01  # chance an insertion position is skipped
T_START = 10.0  # annealing temperature at the start, in mean arcs of the input routes
T_END = 0.1  # and at the deadline (falling exponentially in time)

# a route: its nodes with the depot at both ends, leave[k] (time leaving seq[k]), latest[k] (latest
# service start of seq[k + 1]), load, and cost
Leg = tuple[list[int], list[int], list[int], int, int]


def routes_cost(p: Vrptw, routes: list[list[int]]) -> int:
    """Sum of arc costs, depot to depot."""
    total = 0
    for r in routes:
        prev = p.depot
        for n in [*r, p.depot]:
            total += p.cost[prev][n]
            prev = n
    return total


def leg(p: Vrptw, nodes: list[int]) -> Leg:
    """A route's cached times, load and cost (forward earliest departures, backward latest starts)."""
    t, c, ready, due, service, demand = p.travel, p.cost, p.ready, p.due, p.service, p.demand
    seq = [p.depot, *nodes, p.depot]
    clock, leave, cost, load, prev = p.start, [p.start], 0, 0, p.depot
    for n in nodes:
        clock += t[prev][n]
        if clock < ready[n]:
            clock = ready[n]
        clock += service[n]
        leave.append(clock)
        cost += c[prev][n]
        load += demand[n]
        prev = n
    cost += c[prev][p.depot]
    late, nxt, latest = p.end, p.depot, [p.end]
    for n in reversed(nodes):
        late -= t[n][nxt] + service[n]
        if late > due[n]:
            late = due[n]
        latest.append(late)
        nxt = n
    latest.reverse()
    return seq, leave, latest, load, cost


def ruin_recreate(
    p: Vrptw, routes: list[list[int]], *, deadline: float, rng: random.Random
) -> list[list[int]]:
    """Shorten the routes without adding one, until ``deadline``.

    Each step removes strings of consecutive visits (some with a run kept in place) from the routes
    nearest a random seed visit (Christiaens & Vanden Berghe's SISR ruin), then re-inserts them in a
    random, demand, distance or window order at their cheapest feasible places, each place skipped
    with a small chance (blinks). The result replaces the current one under simulated annealing: the
    acceptance bound (drawn before the recreate, which stops as soon as it is exceeded) uses a
    temperature falling exponentially from ``T_START`` to ``T_END`` mean arcs at the deadline.

    Args:
        p: Plain VRPTW data.
        routes: A feasible solution (it is not modified).
        deadline: ``time.perf_counter()`` value at which to stop.
        rng: Random source.

    Returns:
        The shortest feasible routes found (never more routes than given).
    """
    current = [leg(p, list(r)) for r in routes if r]
    visits = [n for r in current for n in r[0][1:-1]]
    if not visits:
        return []
    cost = sum(r[4] for r in current)
    best, best_cost = current, cost
    near = {v: sorted(visits, key=lambda w: p.cost[v][w] + p.cost[w][v]) for v in visits}
    mean = cost / (len(visits) + len(current))
    hot, cold = T_START * mean, T_END * mean
    began = time.perf_counter()
    span = max(1e-9, deadline - began)
    while (now := time.perf_counter()) < deadline:
        bound = cost - hot * (cold / hot) ** ((now - began) / span) * math.log(1.0 - rng.random())
        trial, pending, trial_cost = ruin(p, current, near[rng.choice(visits)], rng)
        trial_cost += cost
        for v in _order(p, pending, rng):
            trial_cost = insert_blink(p, trial, v, rng, trial_cost, bound)
            if trial_cost < 0:
                break
        else:
            current, cost = trial, trial_cost
            if cost < best_cost:
                best, best_cost = current, cost
    return [r[0][1:-1] for r in best if len(r[0]) > 2]


def ruin(
    p: Vrptw, routes: list[Leg], around: list[int], rng: random.Random
) -> tuple[list[Leg], list[int], int]:
    """Remove one string from each of a few routes met nearest the seed (``around[0]``).

    Returns:
        The new route list (untouched routes shared with ``routes``), the removed visits, and the
        change in cost.
    """
    ls_max = min(MAX_STRING, sum(len(r[0]) - 2 for r in routes) / len(routes))
    strings = int(rng.uniform(1, 4 * AVG_RUIN / (1 + ls_max)))
    where = {n: i for i, r in enumerate(routes) for n in r[0][1:-1]}
    trial, removed, done, delta = list(routes), list[int](), set[int](), 0
    for c in around:
        if len(done) >= strings:
            break
        ri = where.get(c)
        if ri is None or ri in done:
            continue
        done.add(ri)
        nodes = routes[ri][0][1:-1]
        kept, gone = _cut(nodes, nodes.index(c), int(rng.uniform(1, min(len(nodes), ls_max) + 1)), rng)
        removed.extend(gone)
        trial[ri] = leg(p, kept)
        delta += trial[ri][4] - routes[ri][4]
    return trial, removed, delta


def _cut(nodes: list[int], at: int, size: int, rng: random.Random) -> tuple[list[int], list[int]]:
    """Remove ``size`` visits in a string through ``nodes[at]``, sometimes keeping a run inside it."""
    if 2 <= size < len(nodes) and rng.random() < SPLIT:
        keep = 1
        while size + keep < len(nodes) and rng.random() < KEEP_MORE:
            keep += 1
        span = size + keep
        first = rng.randint(max(0, at - span + 1), min(at, len(nodes) - span))
        off = rng.randint(1, size - 1)  # the kept run lies strictly inside the string
        block = nodes[first : first + span]
        return nodes[:first] + block[off : off + keep] + nodes[first + span :], block[:off] + block[
            off + keep :
        ]
    first = rng.randint(max(0, at - size + 1), min(at, len(nodes) - size))
    return nodes[:first] + nodes[first + size :], nodes[first : first + size]


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


def insert_blink(p: Vrptw, routes: list[Leg], v: int, rng: random.Random, cost: int, bound: float) -> int:
    """Insert ``v`` at its cheapest feasible place, each better place skipped with chance BLINK.

    Only positions whose neighbours' cached times leave room are scanned (found by bisection: the
    departure and latest-start arrays grow along a feasible route), each checked in O(1).

    Returns:
        The new total cost, or -1 (routes untouched) when no place exists or the cost would exceed ``bound``.
    """
    t, c = p.travel, p.cost
    tv, cv, ready, due, tail = t[v], c[v], p.ready[v], p.due[v], p.service[v]
    need, extra, cap = ready + tail, p.demand[v], p.capacity
    best, at, into = 1 << 62, -1, -1
    for ri, (seq, leave, latest, load, _) in enumerate(routes):
        if cap and load + extra > cap:
            continue
        for k in range(bisect_left(latest, need), bisect_right(leave, due)):
            prev, nxt = seq[k], seq[k + 1]
            cp = c[prev]
            delta = cp[v] + cv[nxt] - cp[nxt]
            if delta >= best:
                continue
            start = leave[k] + t[prev][v]
            if start < ready:
                start = ready
            if start <= due and start + tail + tv[nxt] <= latest[k] and rng.random() >= BLINK:
                best, at, into = delta, k, ri
    if at < 0 or cost + best > bound:
        return -1
    nodes = routes[into][0][1:-1]
    nodes.insert(at, v)
    routes[into] = leg(p, nodes)
    return cost + best
