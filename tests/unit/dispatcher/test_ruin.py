from __future__ import annotations

import random
import time

from dispatcher.bench_solomon import Customer, Instance, check_routes, to_spec
from dispatcher.scheduling.ejection import (
    PERTURB_MOVES,
    Route,
    Vrptw,
    _perturb,
    mean_arc,
    remove_one_route,
    vrptw_of,
)
from dispatcher.scheduling.ruin import _insert_blink, _ruin, routes_cost, ruin_recreate


def _instance(seed: int, n: int = 30) -> Instance:
    """Customers in a 50 x 50 square with 40-80 wide windows."""
    rng = random.Random(seed)
    nodes = [Customer(0, 25, 25, 0, 0, 500, 0)]
    for i in range(1, n + 1):
        ready = rng.uniform(40, 350)
        nodes.append(
            Customer(
                i,
                rng.uniform(0, 50),
                rng.uniform(0, 50),
                rng.randint(5, 20),
                ready,
                ready + rng.uniform(40, 80),
                10,
            )
        )
    return Instance(name=f"RUIN{seed}", vehicles=n, capacity=70, nodes=nodes)


def _solved(seed: int) -> tuple[Instance, Vrptw, list[list[int]]]:
    inst = _instance(seed)
    plain = vrptw_of(to_spec(inst))
    assert plain is not None
    routes = [[c] for c in range(1, len(inst.nodes))]
    rng = random.Random(seed)
    deadline = time.perf_counter() + 0.5
    while (fewer := remove_one_route(plain, routes, deadline=deadline, rng=rng)) is not None:
        routes = [r for r in fewer if r]
    return inst, plain, routes


def test_ruin_removes_consecutive_strings_and_keeps_the_rest_in_order() -> None:
    _, plain, routes = _solved(1)
    visits = [n for r in routes for n in r]
    rng = random.Random(2)
    for _ in range(50):
        seed = rng.choice(visits)
        around = sorted(visits, key=lambda w: plain.cost[seed][w] + plain.cost[w][seed])
        kept, removed = _ruin(routes, around, rng)
        assert seed in removed  # the seed's own route is ruined first
        assert sorted([*removed, *(n for r in kept for n in r)]) == sorted(visits)
        for old, new in zip(routes, kept, strict=True):
            gone = [n for n in old if n not in new]
            if gone:  # one string: the removed visits were adjacent, the rest keeps its order
                first = old.index(gone[0])
                assert old[first : first + len(gone)] == gone
                assert old[:first] + old[first + len(gone) :] == new
            else:
                assert old == new


def test_blink_insertion_picks_a_feasible_place_and_rarely_a_worse_one() -> None:
    _, plain, routes = _solved(3)
    rng = random.Random(4)
    worse = 0
    for trial in range(60):
        r = routes[trial % len(routes)]
        if len(r) < 2:
            continue
        v = r[len(r) // 2]
        rest = [[n for n in x if n != v] for x in routes]
        cheapest = min(
            (f[0] for x in rest if (f := Route(plain, x).cheapest(plain, v, 1 << 62)) is not None),
            default=None,
        )
        work = [Route(plain, list(x)) for x in rest]
        assert _insert_blink(plain, work, v, rng)
        assert all(x.feasible(plain) for x in work)
        assert cheapest is not None
        worse += routes_cost(plain, [x.nodes for x in work]) - routes_cost(plain, rest) > cheapest
    assert worse <= 6  # a blink skips a place with chance 1 %


def test_relocations_lengthen_the_routes_by_at_most_the_slack() -> None:
    inst, plain, routes = _solved(5)
    rng = random.Random(6)
    for slack in (0, mean_arc(plain, routes) // 2):
        work = [Route(plain, list(r)) for r in routes]
        for _ in range(10):
            before = routes_cost(plain, [r.nodes for r in work])
            _perturb(plain, work, rng, slack)
            # each move lengthens by <= slack; with slack 0 the routes never get longer
            assert routes_cost(plain, [r.nodes for r in work]) <= before + PERTURB_MOVES * slack
        ok, _, problems = check_routes(inst, [r.nodes for r in work if r.nodes])
        assert ok, problems


def test_sisr_ruin_and_recreate_shortens_feasibly_and_leaves_its_input_alone() -> None:
    inst, plain, routes = _solved(7)
    frozen = [list(r) for r in routes]
    shorter = ruin_recreate(plain, routes, deadline=time.perf_counter() + 0.4, rng=random.Random(8))
    assert routes == frozen
    ok, _, problems = check_routes(inst, shorter)
    assert ok, problems
    assert len(shorter) <= len(routes)
    assert routes_cost(plain, shorter) < routes_cost(plain, routes)
