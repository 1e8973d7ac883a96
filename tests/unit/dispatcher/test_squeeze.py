from __future__ import annotations

import random
import time

from dispatcher.bench_solomon import Customer, Instance, check_routes, to_spec
from dispatcher.scheduling.ejection import Route, insert_cheapest
from dispatcher.scheduling.squeeze import Squeezer, nearest, squeeze
from dispatcher.scheduling.vrptw import Vrptw, vrptw_of


def _instance(seed: int, n: int = 30, capacity: float = 80) -> Instance:
    rng = random.Random(seed)
    nodes = [Customer(0, 25, 25, 0, 0, 400, 0)]
    for i in range(1, n + 1):
        ready = rng.uniform(40, 300)
        nodes.append(
            Customer(i, rng.uniform(0, 50), rng.uniform(0, 50), rng.randint(5, 20), ready, ready + 40, 10)
        )
    return Instance(name=f"SQ{seed}", vehicles=n, capacity=capacity, nodes=nodes)


def _time_warp(p: Vrptw, nodes: list[int]) -> int:
    """Time warp by direct simulation: arriving after the window closes travels back to its end."""
    clock, prev, warp = p.start, p.depot, 0
    for n in [*nodes, p.depot]:
        clock = max(p.ready[n], clock + p.travel[prev][n])
        if clock > p.due[n]:
            warp += clock - p.due[n]
            clock = p.due[n]
        clock += p.service[n]
        prev = n
    return warp


def test_segment_penalty_matches_a_direct_simulation() -> None:
    inst = _instance(1, n=15, capacity=60)
    p = vrptw_of(to_spec(inst))
    assert p is not None
    rng = random.Random(2)
    routes = [rng.sample(range(1, 16), rng.randint(1, 8)) for _ in range(60)]
    sq = Squeezer(p, routes, nearest(p, list(range(1, 16))))
    for ri, nodes in enumerate(routes):
        whole = sq.fwd[ri][-1]
        assert whole[1] == _time_warp(p, nodes)
        assert sq.bwd[ri][0][1] == whole[1]  # the suffix from the depot is the whole route too
        load = sum(p.demand[n] for n in nodes)
        assert whole[6] == load
        feasible = Route(p, nodes).feasible(p)
        assert (sq.pen[ri] == 0) == feasible


def test_squeeze_serves_visits_that_plain_insertion_cannot() -> None:
    squeezed = tried = 0
    for seed in range(12):
        inst = _instance(seed)
        p = vrptw_of(to_spec(inst))
        assert p is not None
        # a tight solution: greedy cheapest insertion into a fixed number of routes, leftovers kept aside
        work = [Route(p, []) for _ in range(4)]
        left = [v for v in range(1, 31) if not insert_cheapest(p, work, v)]
        routes = [r.nodes for r in work]
        near = nearest(p, list(range(1, 31)))
        for v in left:
            tried += 1
            fit = squeeze(p, routes, v, near, deadline=time.perf_counter() + 5)
            if fit is None:
                continue
            squeezed += 1
            served = sorted(n for r in fit for n in r)
            assert served == sorted([*(n for r in routes for n in r), v])
            assert len(fit) == len(routes)
            ok, _, problems = check_routes(inst, fit)
            assert ok or problems == ["customers not served exactly once"], problems
            assert all(Route(p, r).feasible(p) for r in fit)
            routes = fit
    assert tried > 10
    assert squeezed > 0  # some visits that fit nowhere were served after the repair
