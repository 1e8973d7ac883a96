"""Map a raw routing solution back to a typed Plan (routes with ETAs, breaks, unassigned tasks with reasons)."""

from __future__ import annotations

from dispatcher.scheduling.compile import NodeMap
from dispatcher.scheduling.problem import BreakTaken, Plan, Problem, ReasonCode, Route, Unassigned, Visit
from dispatcher.scheduling.spec import RawBreak, RawSolution, RawVisit, RoutingSpec, SolveStatus


def extract_plan(
    problem: Problem,
    spec: RoutingSpec,
    nm: NodeMap,
    raw: RawSolution,
    unable: list[Unassigned],
    *,
    version: int = 1,
) -> Plan:
    """Build the Plan: one route per caregiver, plus every task not served with its reason."""
    vehicle_of = {x.node: v for v, r in enumerate(raw.routes) for x in r}
    routes = tuple(_route(problem, spec, nm, v, raw, vehicle_of) for v in range(len(problem.caregivers)))
    unassigned = list(unable)
    if raw.status in (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL):
        code, why = ReasonCode.DROPPED, "dropped by the solver: no room in any suitable caregiver's day"
    else:
        code, why = ReasonCode.NO_SOLUTION, f"solver status {raw.status.value} ({raw.routing_status})"
    for task_id in dict.fromkeys(nm.task_of_node[n] for n in raw.dropped if n in nm.task_of_node):
        unassigned.append(Unassigned(task_id=task_id, code=code, reason=why))
    return Plan(
        version=version,
        status=raw.status,
        objective=raw.objective,
        solve_seconds=round(raw.wall_s, 3),
        routes=routes,
        unassigned=tuple(unassigned),
        problem=problem,
        routing_status=raw.routing_status,
    )


def _route(
    problem: Problem, spec: RoutingSpec, nm: NodeMap, v: int, raw: RawSolution, vehicle_of: dict[int, int]
) -> Route:
    veh = spec.vehicles[v]
    matrix = spec.travel[veh.time_class]
    taken = [b for b in raw.breaks[v] if b.performed] if raw.breaks else []
    visits: list[Visit] = []
    prev, leave, travel_total, service = veh.start_node, raw.depart[v], 0, 0
    for x in raw.routes[v]:
        leg = matrix[prev][x.node]
        visits.append(_visit(problem, nm, x, leg, _eta(x, leave, leg, taken), vehicle_of))
        travel_total += leg
        service += spec.nodes[x.node].service
        prev, leave = x.node, x.start + spec.nodes[x.node].service
    if raw.routes[v]:
        travel_total += matrix[prev][veh.end_node]
    return Route(
        caregiver_id=problem.caregivers[v].id,
        depart=raw.depart[v],
        back=raw.arrive[v],
        visits=tuple(visits),
        breaks=tuple(BreakTaken(start=b.start, end=b.start + b.duration, kind=_kind(b)) for b in taken),
        travel_minutes=travel_total,
        service_minutes=service,
    )


def _eta(x: RawVisit, leave: int, leg: int, taken: list[RawBreak]) -> int:
    """Arrival if the caregiver leaves right after the previous stop (after a break taken in between)."""
    for b in taken:
        if leave <= b.start and b.start + b.duration + leg <= x.start:
            leave = max(leave, b.start + b.duration)
    return min(leave + leg, x.start)


def _kind(b: RawBreak) -> str:
    return "off_shift" if ":off" in b.name else "rest"


def _visit(
    problem: Problem, nm: NodeMap, x: RawVisit, leg: int, eta: int, vehicle_of: dict[int, int]
) -> Visit:
    task_id = nm.task_of_node[x.node]
    task = problem.task(task_id)
    role = nm.nodes_of_task[task_id].index(x.node)
    partner = None
    for other in nm.nodes_of_task[task_id]:
        if other != x.node and other in vehicle_of:
            partner = problem.caregivers[vehicle_of[other]].id
    return Visit(
        task_id=task_id,
        eta=eta,
        start=x.start,
        end=x.start + task.role_duration(role),
        travel_minutes=leg,
        partner=partner,
        role=role,
        late_minutes=task.late_minutes(x.start, role),
    )
