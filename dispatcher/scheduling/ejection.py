"""Route elimination with an ejection pool (after Nagata & Bräysy 2009) for single-depot time-window specs."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from dispatcher.scheduling.squeeze import nearest, squeeze
from dispatcher.scheduling.vrptw import Vrptw, vrptw_of

__all__ = ["Route", "Vrptw", "insert_cheapest", "remove_one_route", "vrptw_of"]

KMAX = 3  # most visits ejected to make room for one
DFS_BUDGET = 4000  # search nodes per route and ejection
MIN_SHARE = 100  # search nodes per insertion position at least
PERTURB_MOVES = 200  # random feasible relocations after each insertion
PERTURB_SLACK = 0.5  # a relocation may lengthen the routes by this share of a mean arc at most


class Route:
    """A route's visits with forward service starts, backward latest starts and load."""

    __slots__ = ("latest", "leave", "load", "nodes")

    def __init__(self, p: Vrptw, nodes: list[int]) -> None:
        self.nodes = nodes
        self.leave: list[int] = []  # leave[k]: time leaving position k-1 (k = 0: the depot)
        self.latest: list[int] = []  # latest[k]: latest service start at position k (k = len: depot end)
        self.load = 0
        self.refresh(p)

    def refresh(self, p: Vrptw) -> None:
        """Recompute the cached times after the visit list changed."""
        t, ready, due, service = p.travel, p.ready, p.due, p.service
        prev, clock, leave = p.depot, p.start, [p.start]
        for n in self.nodes:
            clock += t[prev][n]
            if clock < ready[n]:
                clock = ready[n]
            clock += service[n]
            leave.append(clock)
            prev = n
        nxt, late, latest = p.depot, p.end, [p.end]
        for n in reversed(self.nodes):
            late -= t[n][nxt] + service[n]
            if late > due[n]:
                late = due[n]
            latest.append(late)
            nxt = n
        self.leave, self.latest = leave, latest[::-1]
        self.load = sum(p.demand[n] for n in self.nodes)

    def feasible(self, p: Vrptw) -> bool:
        """Whether every visit starts in its window and the load fits."""
        t, prev, clock = p.travel, p.depot, p.start
        for n in [*self.nodes, p.depot]:
            clock = max(p.ready[n], clock + t[prev][n])
            if clock > p.due[n]:
                return False
            clock += p.service[n]
            prev = n
        return not p.capacity or self.load <= p.capacity

    def insertions(self, p: Vrptw, v: int) -> list[tuple[int, int]]:
        """Feasible (position, added cost) pairs for visit ``v``."""
        if p.capacity and self.load + p.demand[v] > p.capacity:
            return []
        t, c, out = p.travel, p.cost, []
        nodes, m = self.nodes, len(self.nodes)
        for k in range(m + 1):
            prev = nodes[k - 1] if k else p.depot
            nxt = nodes[k] if k < m else p.depot
            start = max(p.ready[v], self.leave[k] + t[prev][v])
            if start <= p.due[v] and start + p.service[v] + t[v][nxt] <= self.latest[k]:
                out.append((k, c[prev][v] + c[v][nxt] - c[prev][nxt]))
        return out

    def cheapest(self, p: Vrptw, v: int, bound: int) -> tuple[int, int] | None:
        """The cheapest feasible (added cost, position) for ``v`` costing less than ``bound``, if any."""
        if p.capacity and self.load + p.demand[v] > p.capacity:
            return None
        t, cv, leave, latest = p.travel, p.cost, self.leave, self.latest
        ready, due, tail, found = p.ready[v], p.due[v], p.service[v], None
        seq = [p.depot, *self.nodes, p.depot]
        for k in range(len(seq) - 1):
            prev, nxt = seq[k], seq[k + 1]
            delta = cv[prev][v] + cv[v][nxt] - cv[prev][nxt]
            if delta >= bound:
                continue
            start = leave[k] + t[prev][v]
            if start < ready:
                start = ready
            if start <= due and start + tail + t[v][nxt] <= latest[k]:
                bound, found = delta, (delta, k)
        return found


@dataclass(slots=True)
class _Best:
    psum: int
    route: int = -1
    seq: list[int] | None = None
    ejected: list[int] | None = None


@dataclass(slots=True)
class _Ctx:
    """One ejection search: visit ``v`` inserted at position ``k`` of route ``ri`` (as ``seq``)."""

    p: Vrptw
    r: Route
    ri: int
    v: int
    k: int
    seq: list[int]
    pen: list[int]
    over: int  # load to eject for the capacity
    best: _Best
    budget: int


def _eject_search(p: Vrptw, r: Route, ri: int, v: int, pen: list[int], best: _Best) -> None:
    """Search for inserting ``v`` into ``r`` while ejecting <= KMAX visits of least total penalty."""
    nodes = r.nodes
    over = r.load + p.demand[v] - p.capacity if p.capacity else 0
    share = max(MIN_SHARE, DFS_BUDGET // (len(nodes) + 1))  # every position gets its own search budget
    ctx = _Ctx(p, r, ri, v, 0, [], pen, over, best, share)
    for k in range(len(nodes) + 1):
        ctx.k, ctx.seq, ctx.budget = k, [*nodes[:k], v, *nodes[k:]], share
        _dfs(ctx, 0, p.depot, p.start, [], 0, 0)


def _dfs(ctx: _Ctx, j: int, last: int, leave: int, eject: list[int], psum: int, removed: int) -> None:
    """Keep or eject ``seq[j]``; stop at the first kept visit after ``v`` whose old slack absorbs the delay."""
    ctx.budget -= 1
    if ctx.budget < 0:
        return
    p, m, best = ctx.p, len(ctx.r.nodes), ctx.best
    c = ctx.seq[j] if j <= m else p.depot
    arrive = max(p.ready[c], leave + p.travel[last][c])
    if j > ctx.k and removed >= ctx.over and arrive <= ctx.r.latest[j - 1]:
        if psum < best.psum or (psum == best.psum and len(eject) < len(best.ejected or [])):
            best.psum, best.route, best.ejected = psum, ctx.ri, list(eject)
            best.seq = [n for n in ctx.seq if n not in eject]
        return
    if j > m:
        return
    if arrive <= p.due[c]:  # keeping first finds cheap ejections early, which prunes the rest
        _dfs(ctx, j + 1, c, arrive + p.service[c], eject, psum, removed)
    if c != ctx.v and len(eject) < KMAX and psum + ctx.pen[c] < best.psum:
        eject.append(c)
        _dfs(ctx, j + 1, last, leave, eject, psum + ctx.pen[c], removed + p.demand[c])
        eject.pop()


def _perturb(p: Vrptw, routes: list[Route], rng: random.Random, slack: int) -> None:
    """Random visits moved to their cheapest feasible place in another route (record-to-record).

    A move is taken when it lengthens the routes by at most ``slack``: N&B accept any feasible move,
    which diversifies but leaves the routes far longer after each removal.
    """
    c = p.cost
    for _ in range(PERTURB_MOVES):
        a, b = rng.randrange(len(routes)), rng.randrange(len(routes))
        if a == b or not routes[a].nodes:
            continue
        src, dst = routes[a], routes[b]
        k = rng.randrange(len(src.nodes))
        v = src.nodes[k]
        prev = src.nodes[k - 1] if k else p.depot
        nxt = src.nodes[k + 1] if k + 1 < len(src.nodes) else p.depot
        gain = c[prev][v] + c[v][nxt] - c[prev][nxt]
        found = dst.cheapest(p, v, gain + slack + 1)
        if found is None:
            continue
        pos = found[1]
        del src.nodes[k]
        dst.nodes.insert(pos, v)
        src.refresh(p)
        dst.refresh(p)


def mean_arc(p: Vrptw, routes: list[list[int]]) -> int:
    """Mean arc cost of the routes, depot legs included."""
    arcs = total = 0
    for r in routes:
        prev = p.depot
        for n in [*r, p.depot]:
            total += p.cost[prev][n]
            arcs += 1
            prev = n
    return total // max(1, arcs)


def insert_cheapest(p: Vrptw, routes: list[Route], v: int) -> bool:
    """Insert ``v`` at its cheapest feasible position; False when there is none."""
    best: tuple[int, int, int] | None = None
    for ri, r in enumerate(routes):
        found = r.cheapest(p, v, best[0] if best is not None else 1 << 62)
        if found is not None:
            best = (found[0], ri, found[1])
    if best is None:
        return False
    routes[best[1]].nodes.insert(best[2], v)
    routes[best[1]].refresh(p)
    return True


def remove_one_route(
    p: Vrptw, routes: list[list[int]], *, deadline: float, rng: random.Random
) -> list[list[int]] | None:
    """Try to serve every visit with one route fewer before ``deadline``; None when time runs out.

    The smallest route is emptied into the ejection pool; a pooled visit is inserted where it fits,
    otherwise it is squeezed in (inserted anyway, then the time warp and overload repaired by local
    search, see ``squeeze``), otherwise it goes in while the visits of least accumulated penalty (at most ``KMAX``) are ejected
    into the pool; each step ends with random relocations that lengthen the routes little.
    """
    order = sorted(range(len(routes)), key=lambda i: len(routes[i]))
    pool = list(routes[order[0]])
    work = [Route(p, list(r)) for i, r in enumerate(routes) if i != order[0]]
    pen = [1] * len(p.ready)
    near = nearest(p, [n for r in routes for n in r])
    slack = int(PERTURB_SLACK * mean_arc(p, routes))
    while pool:
        if time.perf_counter() > deadline:
            return None
        v = pool.pop()
        if insert_cheapest(p, work, v):
            pass
        elif (fit := squeeze(p, [r.nodes for r in work], v, near, deadline=deadline, pick=v)) is not None:
            work = [Route(p, r) for r in fit]
        else:
            pen[v] += 1
            best = _Best(psum=1 << 60)
            for ri in rng.sample(range(len(work)), len(work)):
                _eject_search(p, work[ri], ri, v, pen, best)
            if best.seq is None:  # not even with KMAX ejections: put it back, perturb, retry later
                pool.insert(0, v)
            else:
                work[best.route].nodes = best.seq
                work[best.route].refresh(p)
                pool.extend(best.ejected or [])
        _perturb(p, work, rng, slack)
    return [r.nodes for r in work]
