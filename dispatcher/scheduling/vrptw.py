"""Plain VRPTW data (one depot, identical vehicles, one window per visit) read from a routing spec."""

from __future__ import annotations

from dataclasses import dataclass

from dispatcher.scheduling.spec import RoutingSpec


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
