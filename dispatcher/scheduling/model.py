"""Build an OR-Tools routing model (time windows, breaks, sync pairs, skills, penalties) from a RoutingSpec."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from ortools.constraint_solver import pywrapcp

from dispatcher.scheduling.spec import RoutingSpec, SearchSpec, interchangeable

TIME = "Time"
CAPACITY = "Capacity"
AFFINITY = "Affinity"
LATE = "Lateness"


@dataclass
class BuiltModel:
    """The routing objects a solve needs, plus the spec they came from."""

    spec: RoutingSpec
    manager: Any  # pywrapcp.RoutingIndexManager
    routing: Any  # pywrapcp.RoutingModel
    time: Any  # pywrapcp.RoutingDimension
    breaks: list[list[Any]]  # IntervalVar per vehicle


def build_model(spec: RoutingSpec, search: SearchSpec | None = None) -> BuiltModel:
    """Create the routing model: data -> variables -> constraints -> costs (not yet solved).

    Args:
        spec: Integer routing data.
        search: Only its locks, fixed starts and earliest start are used here.

    Returns:
        The built model.
    """
    starts = [v.start_node for v in spec.vehicles]
    ends = [v.end_node for v in spec.vehicles]
    manager = pywrapcp.RoutingIndexManager(len(spec.nodes), len(spec.vehicles), starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    time = _add_time(spec, manager, routing)
    built = BuiltModel(spec=spec, manager=manager, routing=routing, time=time, breaks=[])
    _add_costs(built)
    _add_nodes(built, search or SearchSpec())
    if spec.use_capacity:
        _add_capacity(built)
    _add_affinity(built)
    _add_sync(built)
    _add_gaps(built)
    _add_max_lateness(built)
    _add_breaks(built)
    if search is not None:
        _add_locks(built, search)
    return built


def _add_time(spec: RoutingSpec, manager: Any, routing: Any) -> Any:
    evaluators: dict[int, int] = {}
    for c, travel in enumerate(spec.travel):
        rows = [[t + spec.nodes[i].service for t in row] for i, row in enumerate(travel)]
        evaluators[c] = routing.RegisterTransitMatrix(rows)
    per_vehicle = [evaluators[v.time_class] for v in spec.vehicles]
    routing.AddDimensionWithVehicleTransits(per_vehicle, spec.horizon, spec.horizon, False, TIME)
    time = routing.GetDimensionOrDie(TIME)
    for v, veh in enumerate(spec.vehicles):
        time.CumulVar(routing.Start(v)).SetRange(veh.earliest_start, veh.latest_end)
        time.CumulVar(routing.End(v)).SetRange(veh.earliest_start, veh.latest_end)
        if veh.fixed_start is not None:
            time.CumulVar(routing.Start(v)).SetValue(veh.fixed_start)
        if veh.max_span is not None:
            time.SetSpanUpperBoundForVehicle(veh.max_span, v)
        if veh.soft_end is not None:
            time.SetCumulVarSoftUpperBound(routing.End(v), veh.soft_end[0], veh.soft_end[1])
        routing.AddVariableMaximizedByFinalizer(time.CumulVar(routing.Start(v)))
        routing.AddVariableMinimizedByFinalizer(time.CumulVar(routing.End(v)))
    return time


def _add_costs(built: BuiltModel) -> None:
    spec, routing = built.spec, built.routing
    evaluators = [routing.RegisterTransitMatrix(m) for m in spec.cost]
    for v, veh in enumerate(spec.vehicles):
        routing.SetArcCostEvaluatorOfVehicle(evaluators[veh.cost_class], v)
        if veh.fixed_cost:
            routing.SetFixedCostOfVehicle(veh.fixed_cost, v)


def _add_nodes(built: BuiltModel, search: SearchSpec) -> None:
    spec, routing, manager = built.spec, built.routing, built.manager
    used_depots = {v.start_node for v in spec.vehicles} | {v.end_node for v in spec.vehicles}
    floor = search.earliest_start
    for node, ns in enumerate(spec.nodes):
        if node in used_depots:
            continue
        index = manager.NodeToIndex(node)
        if node in spec.depots:  # a depot no vehicle uses: never visited
            routing.AddDisjunction([index], 0)
            routing.ActiveVar(index).SetValue(0)
            continue
        if ns.penalty is not None:
            routing.AddDisjunction([index], ns.penalty)
        if ns.allowed_vehicles is not None:
            routing.VehicleVar(index).SetValues([-1, *ns.allowed_vehicles])
        _set_start_ranges(built, index, ns.starts, floor if node not in (search.fixed_starts or {}) else None)
        if ns.soft_latest is not None:
            built.time.SetCumulVarSoftUpperBound(index, ns.soft_latest[0], ns.soft_latest[1])


def _set_start_ranges(
    built: BuiltModel, index: int, starts: list[tuple[int, int]], floor: int | None
) -> None:
    ranges = sorted((max(lo, floor or 0), hi) for lo, hi in starts)
    ranges = [(lo, hi) for lo, hi in ranges if lo <= hi]
    if not ranges:
        built.routing.ActiveVar(index).SetValue(0)
        return
    cumul = built.time.CumulVar(index)
    cumul.SetRange(ranges[0][0], ranges[-1][1])
    for (_, hi), (lo, _) in itertools.pairwise(ranges):
        if lo > hi + 1:
            cumul.RemoveInterval(hi + 1, lo - 1)


def _add_capacity(built: BuiltModel) -> None:
    spec, routing = built.spec, built.routing
    demand = routing.RegisterUnaryTransitVector([n.demand for n in spec.nodes])
    capacities = [v.capacity for v in spec.vehicles]
    routing.AddDimensionWithVehicleCapacity(demand, 0, capacities, True, CAPACITY)


def _add_affinity(built: BuiltModel) -> None:
    """Per-vehicle node costs (continuity of care, re-plan stickiness) as a span-costed dimension."""
    spec, routing = built.spec, built.routing
    if not any(n.vehicle_costs or n.default_vehicle_cost for n in spec.nodes):
        return
    registered: dict[tuple[int, ...], int] = {}
    per_vehicle = []
    for v in range(len(spec.vehicles)):
        vec = tuple(
            0 if i in spec.depots else n.vehicle_costs.get(v, n.default_vehicle_cost)
            for i, n in enumerate(spec.nodes)
        )
        if vec not in registered:
            registered[vec] = routing.RegisterUnaryTransitVector(list(vec))
        per_vehicle.append(registered[vec])
    bound = sum(max([n.default_vehicle_cost, *n.vehicle_costs.values()]) for n in spec.nodes) + 1
    routing.AddDimensionWithVehicleTransits(per_vehicle, 0, bound, True, AFFINITY)
    routing.GetDimensionOrDie(AFFINITY).SetSpanCostCoefficientForAllVehicles(1)


def _add_sync(built: BuiltModel) -> None:
    """Double-handed visits: both or neither, same start, two different vehicles."""
    routing, manager, solver = built.routing, built.manager, built.routing.solver()
    for a, b in built.spec.sync:
        ia, ib = manager.NodeToIndex(a), manager.NodeToIndex(b)
        solver.Add(routing.ActiveVar(ia) == routing.ActiveVar(ib))
        solver.Add(built.time.CumulVar(ia) == built.time.CumulVar(ib))
        # the same equality as node precedences both ways, which the search's filters propagate
        built.time.AddNodePrecedence(ia, ib, 0)
        built.time.AddNodePrecedence(ib, ia, 0)
        if interchangeable(built.spec, a, b):
            # symmetry: inactive, both vehicle vars are -1; active, strictly ordered (hence different)
            solver.Add(routing.VehicleVar(ia) + routing.ActiveVar(ib) <= routing.VehicleVar(ib))
    # different vehicles, in a form the search heuristics and filters understand (visit types)
    for k, (a, b) in enumerate(built.spec.sync + built.spec.apart):
        ia, ib = manager.NodeToIndex(a), manager.NodeToIndex(b)
        routing.SetVisitType(ia, 2 * k, routing.TYPE_ADDED_TO_VEHICLE)
        routing.SetVisitType(ib, 2 * k + 1, routing.TYPE_ADDED_TO_VEHICLE)
        routing.AddHardTypeIncompatibility(2 * k, 2 * k + 1)


def _add_gaps(built: BuiltModel) -> None:
    """Precedence with a gap: min_gap <= start(second) - start(first) <= max_gap when both are served.

    Node precedences are part of the time dimension, so the local-search filters and the cumul
    propagator see them (a plain solver constraint would only be checked on complete solutions).
    """
    manager, time = built.manager, built.time
    for g in built.spec.gaps:
        first, second = manager.NodeToIndex(g.first), manager.NodeToIndex(g.second)
        time.AddNodePrecedence(first, second, g.min_gap)
        if g.max_gap is not None:
            time.AddNodePrecedence(second, first, -g.max_gap)


def _add_max_lateness(built: BuiltModel) -> None:
    """Cost on the day's largest lateness: a slack-only dimension whose cumul grows to each route's worst.

    Along a route the cumul of this dimension never decreases, and at each late-able node it is at least
    that node's lateness, so a route's end holds the route's largest; the global span cost charges the
    largest over all routes.
    """
    spec, routing, manager = built.spec, built.routing, built.manager
    soft = [(n, ns.soft_latest[0]) for n, ns in enumerate(spec.nodes) if ns.soft_latest is not None]
    if not spec.max_late_cost or not soft:
        return
    routing.AddConstantDimensionWithSlack(0, spec.horizon, spec.horizon, True, LATE)
    late = routing.GetDimensionOrDie(LATE)
    solver = routing.solver()
    for node, bound in soft:
        index = manager.NodeToIndex(node)
        solver.Add(late.CumulVar(index) >= built.time.CumulVar(index) - bound)
    late.SetGlobalSpanCostCoefficient(spec.max_late_cost)
    for v in range(len(spec.vehicles)):
        routing.AddVariableMinimizedByFinalizer(late.CumulVar(routing.End(v)))


def _add_breaks(built: BuiltModel) -> None:
    spec, routing, manager = built.spec, built.routing, built.manager
    solver = routing.solver()
    visit_transits = [spec.nodes[manager.IndexToNode(i)].service for i in range(routing.Size())]
    for v, veh in enumerate(spec.vehicles):
        intervals = [
            solver.FixedDurationIntervalVar(b.start_min, b.start_max, b.duration, b.optional, b.name)
            for b in veh.breaks
        ]
        built.breaks.append(intervals)
        if intervals:
            built.time.SetBreakIntervalsOfVehicle(intervals, v, visit_transits)


def _add_locks(built: BuiltModel, search: SearchSpec) -> None:
    """Fix started visits: their order at the head of each route, their vehicle and their start."""
    routing, manager = built.routing, built.manager
    for v, chain in enumerate(search.locked_prefix or []):
        prev = routing.Start(v)
        for node in chain:
            index = manager.NodeToIndex(node)
            routing.NextVar(prev).SetValue(index)
            routing.VehicleVar(index).SetValue(v)
            prev = index
    for node, start in (search.fixed_starts or {}).items():
        built.time.CumulVar(manager.NodeToIndex(node)).SetValue(start)
