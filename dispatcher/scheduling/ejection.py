"""Route elimination with an ejection pool (after Nagata & Bräysy 2009) for single-depot time-window specs."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from dispatcher.scheduling.spec import RoutingSpec

KMAX = 3  # most visits ejected to make room for one
DFS_BUDGET = 4000  # search nodes per route and ejection
PERTURB_MOVES = 60  # random feasible relocations after each insertion


@dataclass(frozen=True, slots=True)
class Vrptw:
    """Plain VRPTW data: one depot, identical vehicles, one service-start window per visit."""

    travel: list[list[int]]
    cost: list[list[int]]
    ready: list[int]
    due: list[int]
    service: list[int]
    demand: list[int]
    capacity: int  # 0 = unlimited
    depot: int
    start: int
    end: int


def vrptw_of(spec: RoutingSpec) -> Vrptw | None:
    """The spec as plain VRPTW data, or None when it uses features this heuristic does not model."""
    vs = spec.vehicles
    if not vs or spec.sync or spec.apart or len(spec.depots) != 1:
        return None
    v0 = vs[0]
    same = {
        (v.start_node, v.end_node, v.earliest_start, v.latest_end, v.time_class, v.cost_class) for v in vs
    }
    if len(same) != 1 or v0.start_node != v0.end_node or len({v.capacity for v in vs}) != 1:
        return None
    if any(v.breaks or v.max_span is not None or v.soft_end or v.fixed_start is not None for v in vs):
        return None
    visits = [n for i, n in enumerate(spec.nodes) if i not in spec.depots]
    if any(len(n.starts) != 1 or n.penalty is not None or n.allowed_vehicles is not None for n in visits):
        return None
    if any(n.vehicle_costs or n.default_vehicle_cost for n in visits):
        return None
    depot = v0.start_node
    return Vrptw(
        travel=spec.travel[v0.time_class],
        cost=spec.cost[v0.cost_class],
        ready=[v0.earliest_start if i == depot else n.starts[0][0] for i, n in enumerate(spec.nodes)],
        due=[v0.latest_end if i == depot else n.starts[0][1] for i, n in enumerate(spec.nodes)],
        service=[0 if i == depot else n.service for i, n in enumerate(spec.nodes)],
        demand=[n.demand if spec.use_capacity else 0 for n in spec.nodes],
        capacity=v0.capacity if spec.use_capacity else 0,
        depot=depot,
        start=v0.earliest_start,
        end=v0.latest_end,
    )


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
        t, prev, leave = p.travel, p.depot, [p.start]
        for n in self.nodes:
            leave.append(max(p.ready[n], leave[-1] + t[prev][n]) + p.service[n])
            prev = n
        latest = [p.end]
        nxt = p.depot
        for n in reversed(self.nodes):
            latest.append(min(p.due[n], latest[-1] - t[n][nxt] - p.service[n]))
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
    ctx = _Ctx(p, r, ri, v, 0, [], pen, over, best, DFS_BUDGET)
    for k in range(len(nodes) + 1):
        ctx.k, ctx.seq = k, [*nodes[:k], v, *nodes[k:]]
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


def _perturb(p: Vrptw, routes: list[Route], rng: random.Random) -> None:
    """Random visits moved to their cheapest feasible place in another route when that is no longer."""
    for _ in range(PERTURB_MOVES):
        a, b = rng.randrange(len(routes)), rng.randrange(len(routes))
        if a == b or not routes[a].nodes:
            continue
        src, dst = routes[a], routes[b]
        k = rng.randrange(len(src.nodes))
        v = src.nodes[k]
        options = dst.insertions(p, v)
        if not options:
            continue
        pos, delta = min(options, key=lambda o: o[1])
        if delta > _saving(p, src, k):  # only moves that do not lengthen the routes
            continue
        del src.nodes[k]
        dst.nodes.insert(pos, v)
        src.refresh(p)
        dst.refresh(p)


def insert_cheapest(p: Vrptw, routes: list[Route], v: int) -> bool:
    """Insert ``v`` at its cheapest feasible position; False when there is none."""
    best: tuple[int, int, int] | None = None
    for ri, r in enumerate(routes):
        for pos, delta in r.insertions(p, v):
            if best is None or delta < best[0]:
                best = (delta, ri, pos)
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
    otherwise it goes in while the visits of least accumulated penalty (at most ``KMAX``) are ejected
    into the pool; each step ends with random feasible relocations.
    """
    order = sorted(range(len(routes)), key=lambda i: len(routes[i]))
    pool = list(routes[order[0]])
    work = [Route(p, list(r)) for i, r in enumerate(routes) if i != order[0]]
    pen = [1] * len(p.ready)
    while pool:
        if time.perf_counter() > deadline:
            return None
        v = pool.pop()
        if not insert_cheapest(p, work, v):
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
        _perturb(p, work, rng)
    return [r.nodes for r in work]


def _saving(p: Vrptw, r: Route, k: int) -> int:
    """Cost saved by taking the visit at position ``k`` out of ``r``."""
    nodes, c = r.nodes, p.cost
    prev = nodes[k - 1] if k else p.depot
    nxt = nodes[k + 1] if k + 1 < len(nodes) else p.depot
    return c[prev][nodes[k]] + c[nodes[k]][nxt] - c[prev][nxt]
