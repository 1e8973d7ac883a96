from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path

import pytest

from dispatcher.bench_solomon import Customer, Instance, check_routes, run, to_spec
from dispatcher.errors import BenchmarkInputError
from dispatcher.scheduling.ejection import Route, remove_one_route, vrptw_of
from dispatcher.scheduling.fleet import minimise_vehicles
from dispatcher.scheduling.ruin import routes_cost, ruin_recreate
from dispatcher.scheduling.spec import BreakSpec, SearchSpec


def _random_instance(seed: int, n: int = 25, capacity: float = 60) -> Instance:
    """Customers in a 50 x 50 square with 30-60 wide windows, each reachable alone from the depot."""
    rng = random.Random(seed)
    nodes = [Customer(0, 25, 25, 0, 0, 400, 0)]
    for i in range(1, n + 1):
        x, y = rng.uniform(0, 50), rng.uniform(0, 50)
        ready = rng.uniform(40, 300)
        nodes.append(Customer(i, x, y, rng.randint(5, 20), ready, ready + rng.uniform(30, 60), 10))
    return Instance(name=f"RND{seed}", vehicles=n, capacity=capacity, nodes=nodes)


def test_plain_vrptw_data_only_for_specs_it_models() -> None:
    spec = to_spec(_random_instance(1))
    plain = vrptw_of(spec)
    assert plain is not None
    assert plain.capacity == 60
    assert plain.depot == 0
    with_break = dataclasses.replace(
        spec, vehicles=[dataclasses.replace(spec.vehicles[0], breaks=[BreakSpec("b", 0, 10, 5)])]
    )
    assert vrptw_of(with_break) is None
    two_windows = list(spec.nodes)
    two_windows[3] = dataclasses.replace(two_windows[3], starts=[(0, 10), (50, 60)])
    assert vrptw_of(dataclasses.replace(spec, nodes=two_windows)) is None


def test_insertion_positions_match_a_full_recheck() -> None:
    inst = _random_instance(2, n=12, capacity=1000)
    plain = vrptw_of(to_spec(inst))
    assert plain is not None
    rng = random.Random(3)
    checked = 0
    for _ in range(40):
        route = rng.sample(range(1, 13), 3)
        route.sort(key=lambda c: inst.nodes[c].ready)
        r = Route(plain, route)
        if not r.feasible(plain):
            continue
        v = rng.choice([c for c in range(1, 13) if c not in route])
        fits = {pos for pos, _ in r.insertions(plain, v)}
        for pos in range(len(route) + 1):
            whole = Route(plain, [*route[:pos], v, *route[pos:]])
            assert (pos in fits) == whole.feasible(plain), (route, v, pos)
            checked += 1
    assert checked > 20


def test_route_elimination_keeps_every_customer_feasible() -> None:
    inst = _random_instance(4)
    plain = vrptw_of(to_spec(inst))
    assert plain is not None
    routes = [[c] for c in range(1, len(inst.nodes))]  # one vehicle per customer
    rng = random.Random(0)
    deadline = time.perf_counter() + 1.5
    while (fewer := remove_one_route(plain, routes, deadline=deadline, rng=rng)) is not None:
        routes = [r for r in fewer if r]
        ok, _, problems = check_routes(inst, routes)  # independent float re-check after every step
        assert ok, problems
    assert len(routes) < len(inst.nodes) - 1 - 10


def test_elimination_gives_up_at_the_deadline_when_impossible() -> None:
    # two customers far apart that must both be served at time 100: two vehicles are needed
    inst = Instance(
        name="APART",
        vehicles=2,
        capacity=100,
        nodes=[
            Customer(0, 0, 0, 0, 0, 1000, 0),
            Customer(1, 50, 0, 1, 100, 100, 10),
            Customer(2, -50, 0, 1, 100, 100, 10),
        ],
    )
    plain = vrptw_of(to_spec(inst))
    assert plain is not None
    began = time.perf_counter()
    assert remove_one_route(plain, [[1], [2]], deadline=began + 0.3, rng=random.Random(0)) is None
    assert time.perf_counter() - began < 2


def test_fleet_minimisation_reaches_few_vehicles_on_a_random_instance() -> None:
    inst = _random_instance(5)
    raw = minimise_vehicles(to_spec(inst), SearchSpec(time_limit_s=2))
    routes = [[x.node for x in r] for r in raw.routes if r]
    ok, distance, problems = check_routes(inst, routes)
    assert ok, problems
    assert not raw.dropped
    assert distance > 0
    assert len(routes) <= 12  # 25 customers: the first solve alone uses more


def test_parallel_jobs_give_the_same_report(tmp_path: Path) -> None:
    inst = _random_instance(6, n=8)
    lines = ["RNDJ", "VEHICLE", "NUMBER CAPACITY", f"  {inst.vehicles} {int(inst.capacity)}", "CUSTOMER"]
    lines += [f"{c.id} {c.x} {c.y} {c.demand} {c.ready} {c.due} {c.service}" for c in inst.nodes]
    for name in ("RNDA", "RNDB"):
        (tmp_path / f"{name}.txt").write_text("\n".join([name, *lines[1:]]) + "\n", encoding="ascii")
    (tmp_path / "bks.csv").write_text("instance,vehicles,distance,source\nRNDA,3,100.0,x\n", encoding="utf-8")
    report = run(None, time_limit_s=0.5, directory=tmp_path, jobs=2)
    assert report["conditions"]["jobs"] == 2
    assert list(report["instances"]) == ["RNDA", "RNDB"]
    assert all(r["feasible"] for r in report["instances"].values())
    assert "bks_vehicles" in report["instances"]["RNDA"]
    assert "bks_vehicles" not in report["instances"]["RNDB"]
    with pytest.raises(BenchmarkInputError, match="jobs"):
        run(None, time_limit_s=0.5, directory=tmp_path, jobs=0)


def test_ruin_and_recreate_shortens_without_adding_routes() -> None:
    inst = _random_instance(7)
    plain = vrptw_of(to_spec(inst))
    assert plain is not None
    start = [[c] for c in range(1, len(inst.nodes))]
    routes = remove_one_route(plain, start, deadline=time.perf_counter() + 1, rng=random.Random(1))
    assert routes is not None
    before = check_routes(inst, routes)[1]
    shorter = ruin_recreate(plain, routes, deadline=time.perf_counter() + 0.5, rng=random.Random(2))
    ok, after, problems = check_routes(inst, shorter)
    assert ok, problems
    assert len(shorter) <= len([r for r in routes if r])
    assert after < before
    assert routes_cost(plain, shorter) <= routes_cost(plain, routes)


def test_cheapest_insertion_is_the_least_costly_feasible_position() -> None:
    inst = _random_instance(8, n=14, capacity=1000)
    plain = vrptw_of(to_spec(inst))
    assert plain is not None
    rng = random.Random(9)
    compared = 0
    for _ in range(80):
        r = Route(plain, sorted(rng.sample(range(1, 15), 4), key=lambda c: inst.nodes[c].ready))
        if not r.feasible(plain):
            continue
        v = rng.choice([c for c in range(1, 15) if c not in r.nodes])
        options = r.insertions(plain, v)
        found = r.cheapest(plain, v, 1 << 62)
        assert (found is None) == (not options)
        if found is not None:
            assert found[0] == min(cost for _, cost in options)
            assert (found[1], found[0]) in options
            assert r.cheapest(plain, v, found[0]) is None  # the bound is strict
            compared += 1
    assert compared > 10
