"""Solve a built routing model within a time limit, map its status, and read the raw routes back."""

from __future__ import annotations

import time as _time
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatcher.scheduling.model import BuiltModel, build_model
from dispatcher.scheduling.spec import (
    RawBreak,
    RawSolution,
    RawVisit,
    RoutingSpec,
    SearchSpec,
    SolveStatus,
)

_STATUS_NAMES = dict(routing_enums_pb2.RoutingSearchStatus.Value.items())
_BY_VALUE = {v: k for k, v in _STATUS_NAMES.items()}


def search_parameters(search: SearchSpec) -> Any:
    """Routing search parameters: first-solution strategy, metaheuristic, time limit."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.Value.Value(
        search.first_solution
    )
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.Value.Value(
        search.metaheuristic
    )
    params.time_limit.FromMilliseconds(max(1, round(search.time_limit_s * 1000)))
    params.log_search = search.log_search
    return params


def map_status(routing_status: int, found: bool) -> SolveStatus:
    """Map OR-Tools' routing status to ours; a solution cut short by the limit is still ``feasible``."""
    name = _BY_VALUE.get(routing_status, "ROUTING_NOT_SOLVED")
    if name == "ROUTING_OPTIMAL":
        return SolveStatus.OPTIMAL
    if found:
        return SolveStatus.FEASIBLE
    if name == "ROUTING_INVALID":
        return SolveStatus.MODEL_INVALID
    if name in ("ROUTING_FAIL_TIMEOUT", "ROUTING_NOT_SOLVED"):
        return SolveStatus.TIMEOUT
    return SolveStatus.INFEASIBLE


def solve_spec(spec: RoutingSpec, search: SearchSpec) -> RawSolution:
    """Build, solve and extract; never raises on an infeasible or invalid model.

    Args:
        spec: Integer routing data.
        search: Search settings (time limit, strategy, initial routes, locks).

    Returns:
        The raw solution with our status; empty routes when nothing was found.
    """
    began = _time.perf_counter()
    if not spec.vehicles:
        status = SolveStatus.INFEASIBLE if len(spec.nodes) > len(spec.depots) else SolveStatus.OPTIMAL
        return _empty(spec, status, began, "no vehicles")
    try:
        built = build_model(spec, search)
    except (ValueError, TypeError, SystemError) as exc:  # SWIG rejects malformed data this way
        return _empty(spec, SolveStatus.MODEL_INVALID, began, f"build failed: {exc}")
    params = search_parameters(search)
    routing = built.routing
    routing.CloseModelWithParameters(params)
    if search.stop_below is not None:
        _stop_below(routing, search.stop_below)
    solution = None
    if search.initial_routes is not None:
        indices = [[built.manager.NodeToIndex(n) for n in r] for r in search.initial_routes]
        initial = routing.ReadAssignmentFromRoutes(indices, True)
        if initial is not None:
            solution = routing.SolveFromAssignmentWithParameters(initial, params)
    if solution is None:
        solution = routing.SolveWithParameters(params)
    status = map_status(routing.status(), solution is not None)
    if solution is None:
        return _empty(spec, status, began, _BY_VALUE.get(routing.status(), "?"))
    raw = extract_raw(built, solution, status)
    raw.wall_s = _time.perf_counter() - began
    return raw


def _stop_below(routing: Any, threshold: int) -> None:
    """Finish the search at the first solution whose objective is below ``threshold``."""

    def check() -> None:
        if routing.CostVar().Max() < threshold:
            routing.solver().FinishCurrentSearch()

    routing.AddAtSolutionCallback(check)


def _empty(spec: RoutingSpec, status: SolveStatus, began: float, why: str) -> RawSolution:
    n = len(spec.vehicles)
    visit_nodes = [i for i in range(len(spec.nodes)) if i not in spec.depots]
    return RawSolution(
        status=status,
        routes=[[] for _ in range(n)],
        depart=[0] * n,
        arrive=[0] * n,
        breaks=[[] for _ in range(n)],
        dropped=visit_nodes,
        objective=0,
        wall_s=_time.perf_counter() - began,
        routing_status=why,
    )


def extract_raw(built: BuiltModel, solution: Any, status: SolveStatus) -> RawSolution:
    """Read ordered routes (with service starts and arrivals), breaks and dropped nodes."""
    routing, manager, time, spec = built.routing, built.manager, built.time, built.spec
    routes: list[list[RawVisit]] = []
    depart, arrive = [], []
    for v, veh in enumerate(spec.vehicles):
        index = routing.Start(v)
        depart.append(solution.Min(time.CumulVar(index)))
        visits: list[RawVisit] = []
        prev_node, prev_leave = veh.start_node, depart[-1]
        index = solution.Value(routing.NextVar(index))
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            start = solution.Min(time.CumulVar(index))
            travel = spec.travel[veh.time_class][prev_node][node]
            visits.append(RawVisit(node=node, start=start, arrival=prev_leave + travel))
            prev_node, prev_leave = node, start + spec.nodes[node].service
            index = solution.Value(routing.NextVar(index))
        arrive.append(solution.Min(time.CumulVar(index)))
        routes.append(visits)
    served = {x.node for r in routes for x in r}
    dropped = [i for i in range(len(spec.nodes)) if i not in spec.depots and i not in served]
    return RawSolution(
        status=status,
        routes=routes,
        depart=depart,
        arrive=arrive,
        breaks=_read_breaks(built, solution),
        dropped=dropped,
        objective=solution.ObjectiveValue(),
        wall_s=0.0,
        routing_status=_BY_VALUE.get(routing.status(), "?"),
    )


def _read_breaks(built: BuiltModel, solution: Any) -> list[list[RawBreak]]:
    container = solution.IntervalVarContainer()
    by_name = {}
    for i in range(container.Size()):
        element = container.Element(i)
        by_name[element.Var().Name()] = element
    result: list[list[RawBreak]] = []
    for intervals in built.breaks:
        row = []
        for var in intervals:
            element = by_name.get(var.Name())
            if element is None:
                continue
            performed = bool(element.PerformedValue())
            row.append(RawBreak(var.Name(), element.StartValue(), element.DurationValue(), performed))
        result.append(row)
    return result
