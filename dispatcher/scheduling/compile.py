"""Turn a care Problem into integer routing data (stations as depots, caregivers as vehicles, tasks as nodes)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from devices.types import TravelMode
from dispatcher.domain import Caregiver, Task
from dispatcher.scheduling.precheck import Places
from dispatcher.scheduling.problem import Problem
from dispatcher.scheduling.spec import BreakSpec, GapSpec, NodeSpec, RoutingSpec, VehicleSpec

MODES = (TravelMode.WALK, TravelMode.EBIKE)
REST = "rest"
OFF = "off"


@dataclass(slots=True)
class NodeMap:
    """Which node is which: station depots first, then one node per carer of each task."""

    station_of_node: dict[int, str] = field(default_factory=dict)
    task_of_node: dict[int, str] = field(default_factory=dict)
    nodes_of_task: dict[str, list[int]] = field(default_factory=dict)
    place_of_node: list[int] = field(default_factory=list)
    node_of_station: dict[str, int] = field(default_factory=dict)


def compile_problem(
    problem: Problem,
    where: Places,
    able: dict[str, list[int]],
    *,
    affinity: dict[str, dict[int, int]] | None = None,
) -> tuple[RoutingSpec, NodeMap]:
    """Build the RoutingSpec for the tasks in ``able`` (task id -> allowed caregiver indices).

    Args:
        problem: The care problem.
        where: Places and matrices.
        able: Tasks someone can do, with who (from the pre-check).
        affinity: Optional extra per-caregiver costs per task (re-planning stickiness); replaces continuity.

    Returns:
        The spec and the node map to read the solution back.
    """
    nm = NodeMap()
    nodes: list[NodeSpec] = []
    for s in problem.stations:
        nm.station_of_node[len(nodes)] = s.id
        nm.node_of_station[s.id] = len(nodes)
        nm.place_of_node.append(where.station_index[s.id])
        nodes.append(NodeSpec(name=f"station:{s.id}", starts=[(0, problem.horizon)]))
    pairs: list[tuple[int, int]] = []
    for task in problem.tasks:
        if task.id not in able:
            continue
        copies = []
        for k in range(task.carers):
            copies.append(len(nodes))
            nm.task_of_node[len(nodes)] = task.id
            nm.place_of_node.append(where.task_index[task.id])
            nodes.append(_node(problem, task, k, able[task.id], (affinity or {}).get(task.id)))
        nm.nodes_of_task[task.id] = copies
        if task.carers == 2:
            pairs.append((copies[0], copies[1]))
    travel = [_node_matrix(where, nm, mode) for mode in MODES]
    vehicles = [_vehicle(problem, c, nm) for c in problem.caregivers]
    spec = RoutingSpec(
        nodes=nodes,
        vehicles=vehicles,
        travel=travel,
        cost=travel,
        horizon=problem.horizon,
        depots=frozenset(nm.station_of_node),
        sync=pairs,
        gaps=_gaps(problem, nm),
        max_late_cost=problem.weights.max_lateness,
    )
    return spec, nm


def _gaps(problem: Problem, nm: NodeMap) -> list[GapSpec]:
    """Precedences between tasks that reach the model (the first copy carries a pair's common start)."""
    out = []
    for p in problem.precedences:
        if p.first in nm.nodes_of_task and p.second in nm.nodes_of_task:
            a, b = nm.nodes_of_task[p.first][0], nm.nodes_of_task[p.second][0]
            out.append(GapSpec(a, b, p.min_gap, p.max_gap))
    return out


def _node(problem: Problem, task: Task, copy: int, who: list[int], sticky: dict[int, int] | None) -> NodeSpec:
    w = problem.weights
    node = NodeSpec(
        name=f"{task.id}#{copy}",
        starts=task.start_ranges(copy),
        service=task.role_duration(copy),
        penalty=w.drop_base * 2**task.priority,
        allowed_vehicles=sorted(i for i in who if task.role_skills(copy) <= problem.caregivers[i].skills),
    )
    if task.lateness is not None:
        node.soft_latest = (task.on_time_until(copy), task.lateness.cost_per_minute)
    if sticky is not None:
        node.vehicle_costs, node.default_vehicle_cost = dict(sticky), w.stickiness
    elif task.preferred_caregiver is not None and w.continuity:
        ids = [c.id for c in problem.caregivers]
        if task.preferred_caregiver in ids:
            node.vehicle_costs = {ids.index(task.preferred_caregiver): 0}
            node.default_vehicle_cost = w.continuity
    return node


def _node_matrix(where: Places, nm: NodeMap, mode: TravelMode) -> list[list[int]]:
    full = where.minutes.get(mode)
    if full is None:
        return [[0] * len(nm.place_of_node) for _ in nm.place_of_node]
    places = nm.place_of_node
    return [[row[q] for q in places] for row in (full[p] for p in places)]


def _vehicle(problem: Problem, c: Caregiver, nm: NodeMap) -> VehicleSpec:
    depot = nm.node_of_station[c.station_id]
    shifts = sorted(c.shifts, key=lambda s: s.start)
    breaks = [
        BreakSpec(f"{c.id}:{OFF}{k}", a.end, a.end, b.start - a.end)
        for k, (a, b) in enumerate(itertools.pairwise(shifts))
        if b.start > a.end
    ]
    gaps = sum(b.duration for b in breaks)
    rule = c.break_rule
    if rule is not None and c.day_end - c.day_start - gaps > rule.min_day_minutes:
        breaks.append(BreakSpec(f"{c.id}:{REST}", rule.earliest, rule.latest - rule.duration, rule.duration))
    return VehicleSpec(
        name=c.id,
        start_node=depot,
        end_node=depot,
        earliest_start=c.day_start,
        latest_end=c.day_end,
        time_class=MODES.index(c.mode),
        cost_class=MODES.index(c.mode),
        max_span=c.max_work_minutes + gaps,
        soft_end=_soft_end(problem, c),
        breaks=breaks,
    )


def _soft_end(problem: Problem, c: Caregiver) -> tuple[int, int] | None:
    """Workload balance: past a fair share of the day's service (+25 % for travel) each minute costs."""
    if not problem.weights.balance or not problem.caregivers:
        return None
    work = sum(t.role_duration(k) for t in problem.tasks for k in range(t.carers))
    share = math.ceil(1.25 * work / len(problem.caregivers))
    return min(c.day_end, c.day_start + share), problem.weights.balance
