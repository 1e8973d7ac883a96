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
from dispatcher.scheduling.ruin import insert_blink, leg, routes_cost, ruin, ruin_recreate


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


def test_ruin_removes_strings_and_keeps_the_rest_in_order() -> None:
    _, plain, routes = _solved(1)
    visits = [n for r in routes for n in r]
    legs = [leg(plain, r) for r in routes]
    rng = random.Random(2)
    for _ in range(80):
        seed = rng.choice(visits)
        around = sorted(visits, key=lambda w: plain.cost[seed][w] + plain.cost[w][seed])
        kept_legs, removed, delta = ruin(plain, legs, around, rng)
        kept = [x[0][1:-1] for x in kept_legs]
        home = next(i for i, r in enumerate(routes) if seed in r)
        assert len(kept[home]) < len(routes[home])  # the seed's own route is ruined first
        assert sorted([*removed, *(n for r in kept for n in r)]) == sorted(visits)
        assert delta == routes_cost(plain, kept) - routes_cost(plain, routes)
        for old, new in zip(routes, kept, strict=True):
            gone = [i for i, n in enumerate(old) if n not in new]
            assert [n for n in old if n in new] == new  # the rest keeps its order
            if gone:  # one string, possibly with one run of visits kept inside it
                inside = [i for i in range(gone[0], gone[-1] + 1) if old[i] in new]
                assert inside == list(range(inside[0], inside[-1] + 1)) if inside else True
                assert len(gone) <= 10


def test_leg_times_match_the_route_cache() -> None:
    _, plain, routes = _solved(9)
    for r in routes:
        seq, leave, latest, load, cost = leg(plain, r)
        ref = Route(plain, list(r))
        assert (seq, leave, latest, load) == ([plain.depot, *r, plain.depot], ref.leave, ref.latest, ref.load)
        assert cost == routes_cost(plain, [r])


def test_blink_insertion_picks_a_feasible_place_and_rarely_a_worse_one() -> None:
    _, plain, routes = _solved(3)
    rng = random.Random(4)
    worse = missed = 0
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
        work = [leg(plain, list(x)) for x in rest]
        before = routes_cost(plain, rest)
        assert insert_blink(plain, work, v, rng, before, before) == -1  # above the bound: refused
        assert [x[0][1:-1] for x in work] == rest  # and nothing moved
        after = insert_blink(plain, work, v, rng, before, 1 << 62)
        if after == -1:  # every feasible place blinked (a lone place is skipped with chance 1 %)
            missed += 1
            continue
        assert after == routes_cost(plain, [x[0][1:-1] for x in work])
        assert all(Route(plain, x[0][1:-1]).feasible(plain) for x in work)
        assert cheapest is not None
        worse += after - before > cheapest
    assert worse <= 6  # a blink skips a place with chance 1 %
    assert missed <= 2


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


def test_ruin_and_recreate_never_returns_an_infeasible_solution() -> None:
    for seed in (11, 12, 13):
        inst, plain, routes = _solved(seed)
        out = ruin_recreate(plain, routes, deadline=time.perf_counter() + 0.2, rng=random.Random(seed))
        ok, _, problems = check_routes(inst, out)
        assert ok, problems
        assert routes_cost(plain, out) <= routes_cost(plain, routes)
