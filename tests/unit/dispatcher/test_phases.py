from __future__ import annotations

from dispatcher.scheduling.phases import seed_routes, strip_lone
from dispatcher.scheduling.spec import NodeSpec, RawSolution, RawVisit, RoutingSpec, SolveStatus, VehicleSpec


def _spec() -> RoutingSpec:
    nodes = [NodeSpec("depot", [(0, 100)])] + [NodeSpec(f"n{i}", [(0, 100)], service=5) for i in range(1, 6)]
    vehicles = [VehicleSpec(f"v{k}", 0, 0, 0, 100) for k in range(3)]
    zero = [[0] * 6 for _ in range(6)]
    return RoutingSpec(nodes, vehicles, [zero], [zero], 100, frozenset({0}), sync=[(1, 2), (3, 4)])


def test_seed_routes_drops_lone_copies_and_orders_pairs_by_vehicle() -> None:
    routes = [[2, 5], [1, 3], []]  # pair (1,2): first copy on the higher vehicle; 4 not served
    assert seed_routes(_spec(), routes) == [[1, 5], [2], []]


def test_strip_lone_removes_half_served_pairs() -> None:
    raw = RawSolution(
        status=SolveStatus.FEASIBLE,
        routes=[[RawVisit(1, 10, 10), RawVisit(3, 20, 20)], [RawVisit(2, 10, 10)], []],
        depart=[0, 0, 0],
        arrive=[30, 20, 0],
        breaks=[[], [], []],
        dropped=[4, 5],
        objective=0,
        wall_s=0.0,
        routing_status="x",
    )
    out = strip_lone(_spec(), raw)
    assert [[x.node for x in r] for r in out.routes] == [[1], [2], []]
    assert out.dropped == [3, 4, 5]
