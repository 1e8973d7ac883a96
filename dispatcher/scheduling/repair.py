"""Local repair for re-planning: re-solve only a few caregivers' routes, keeping everyone else's as it is."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from dispatcher.domain import Task
from dispatcher.scheduling.compile import NodeMap, compile_problem
from dispatcher.scheduling.engine import solve_spec
from dispatcher.scheduling.extract import extract_plan
from dispatcher.scheduling.precheck import places
from dispatcher.scheduling.problem import Plan, Problem, Route
from dispatcher.scheduling.spec import RoutingSpec, SearchSpec, SolveStatus
from dispatcher.travel import TravelTimeProvider

URGENT_BOOST = 100  # an urgent task's drop penalty, as a multiple of its normal one


@dataclass(frozen=True, slots=True)
class Context:
    """The running plan, the problem with the urgent task added, and what may not move."""

    plan: Plan
    problem: Problem
    able: dict[str, list[int]]  # task id -> caregiver indices able to do it
    fixed: frozenset[str]  # tasks already started or done
    minute: int
    travel: TravelTimeProvider | None


@dataclass(frozen=True, slots=True)
class Target:
    """Extra tasks to place: pinned common starts, a tighter window end, and which ones are urgent."""

    tasks: tuple[str, ...] = ()
    pin: dict[str, int] = dataclasses.field(default_factory=dict)
    window_end: int | None = None
    urgent: frozenset[str] = frozenset()
    keep_planned: bool = False  # the group's own visits may move but not be dropped


@dataclass(frozen=True, slots=True)
class Repair:
    """New routes for the group's caregivers and the tasks the repair left out."""

    routes: dict[str, Route]
    dropped: tuple[str, ...]
    status: SolveStatus
    routing_status: str
    objective: int


def holders(plan: Plan) -> dict[str, list[str]]:
    """Caregiver ids serving each planned task, in route order."""
    out: dict[str, list[str]] = {}
    for r in plan.routes:
        for v in r.visits:
            out.setdefault(v.task_id, []).append(r.caregiver_id)
    return out


def planned_starts(plan: Plan) -> dict[str, int]:
    """Planned service start of every planned task."""
    return {v.task_id: v.start for r in plan.routes for v in r.visits}


def _sub_tasks(ctx: Context, ids: list[str], extra: Iterable[str]) -> tuple[dict[str, Task], set[str]]:
    """Tasks of the group's routes (pairs with an outside partner become anchored one-carer visits)."""
    hold = holders(ctx.plan)
    tasks: dict[str, Task] = {}
    anchored: set[str] = set()
    for cid in ids:
        route = ctx.plan.route_of(cid)
        for v in route.visits if route else ():
            task = ctx.problem.task(v.task_id)
            if task.carers == 2 and not set(hold[task.id]) <= set(ids):
                task = _one_role(task, v.role)
                anchored.add(task.id)
            tasks[task.id] = task
    for task_id in extra:
        tasks[task_id] = ctx.problem.task(task_id)
    return tasks, anchored


def _one_role(task: Task, role: int) -> Task:
    """One carer's part of a double-handed visit, as a one-carer task with that role's skills and duration."""
    update = {
        "carers": 1,
        "roles": None,
        "skills": task.role_skills(role),
        "duration": task.role_duration(role),
    }
    return task.model_copy(update=update)


def _restore_roles(route: Route, roles: dict[tuple[str, str], int]) -> Route:
    """Give anchored pair visits back the role their caregiver fills (the sub-problem saw them as role 0)."""
    visits = tuple(
        v.model_copy(update={"role": roles[(route.caregiver_id, v.task_id)]})
        if (route.caregiver_id, v.task_id) in roles
        else v
        for v in route.visits
    )
    return route.model_copy(update={"visits": visits})


def _allowed(
    ctx: Context, group: list[int], tasks: dict[str, Task], anchored: set[str]
) -> dict[str, list[int]]:
    pos = {i: k for k, i in enumerate(group)}
    ids = [ctx.problem.caregivers[i].id for i in group]
    hold = holders(ctx.plan)
    out: dict[str, list[int]] = {}
    for task_id in tasks:
        if task_id in ctx.fixed or task_id in anchored or task_id not in ctx.able:
            out[task_id] = [ids.index(c) for c in hold.get(task_id, []) if c in ids]
        else:
            out[task_id] = [pos[i] for i in ctx.able[task_id] if i in pos]
    return {k: v for k, v in out.items() if v}


def _pinned(ctx: Context, spec: RoutingSpec, nm: NodeMap, anchored: set[str], target: Target) -> RoutingSpec:
    """Fix planned pair starts, make fixed/anchored visits mandatory, boost and tighten urgent tasks."""
    start_of = planned_starts(ctx.plan)
    nodes = list(spec.nodes)
    for task_id, copies in nm.nodes_of_task.items():
        for n in copies:
            node = nodes[n]
            pin = target.pin.get(task_id)
            if pin is None and task_id in start_of and (len(copies) == 2 or task_id in anchored):
                pin = start_of[task_id]
            if pin is not None:
                node = dataclasses.replace(node, starts=[(pin, pin)])
            if (
                task_id in ctx.fixed
                or task_id in anchored
                or (target.keep_planned and task_id not in target.tasks)
            ):
                node = dataclasses.replace(node, penalty=None)
            if task_id in target.urgent and node.penalty is not None:
                node = dataclasses.replace(node, penalty=node.penalty * URGENT_BOOST)
                if target.window_end is not None and pin is None:
                    tight = [(lo, min(hi, target.window_end)) for lo, hi in node.starts]
                    node = dataclasses.replace(
                        node, starts=[(lo, hi) for lo, hi in tight if lo <= hi] or node.starts
                    )
            nodes[n] = node
    return dataclasses.replace(spec, nodes=nodes)


def _search(ctx: Context, ids: list[str], nm: NodeMap, time_limit_s: float) -> SearchSpec:
    """Old routes as the initial solution; started visits locked at the head with their starts."""
    hold = holders(ctx.plan)
    start_of = planned_starts(ctx.plan)
    initial: list[list[int]] = []
    for cid in ids:
        route = ctx.plan.route_of(cid)
        row = []
        for v in route.visits if route else ():
            copies = nm.nodes_of_task.get(v.task_id, [])
            if len(copies) == 2 and ctx.problem.task(v.task_id).roles is not None:
                row.append(copies[v.role])  # each copy is one role
            elif (
                len(copies) == 2
            ):  # the first copy rides the lower-numbered vehicle (see the sync constraint)
                mates = sorted(ids.index(c) for c in hold[v.task_id])
                row.append(copies[mates.index(ids.index(cid))])
            elif copies:
                row.append(copies[0])
        initial.append(row)
    fixed_nodes = {n for t in ctx.fixed for n in nm.nodes_of_task.get(t, [])}
    return SearchSpec(
        time_limit_s=time_limit_s,
        metaheuristic="GREEDY_DESCENT",
        initial_routes=initial,
        locked_prefix=[[n for n in row if n in fixed_nodes] for row in initial],
        fixed_starts={n: start_of[nm.task_of_node[n]] for n in fixed_nodes},
        earliest_start=ctx.minute,
    )


def repair(ctx: Context, group: list[int], target: Target, *, time_limit_s: float) -> Repair | None:
    """Re-solve the routes of ``group`` (caregiver indices) with ``target.tasks`` added.

    Args:
        ctx: The running plan and the problem it grows into.
        group: Caregiver indices whose routes may change.
        target: Tasks to add and how (pinned starts, urgency, a tighter window end).
        time_limit_s: Search limit.

    Returns:
        The group's new routes and the tasks left out, or None when the solver found nothing.
    """
    cgs = [ctx.problem.caregivers[i] for i in group]
    ids = [c.id for c in cgs]
    tasks, anchored = _sub_tasks(ctx, ids, target.tasks)
    weights = ctx.problem.weights.model_copy(update={"balance": 0})
    sub = ctx.problem.with_tasks(tuple(tasks.values()), caregivers=tuple(cgs), weights=weights)
    where = places(sub, ctx.travel)
    hold = holders(ctx.plan)
    # stickiness only for visits already on the group's routes: OR-Tools cannot read an initial solution
    # in which an unperformed node has a non-zero unary cost on that dimension
    sticky = {
        t: {ids.index(c): 0 for c in hold[t] if c in ids} for t in tasks if set(hold.get(t, ())) & set(ids)
    }
    spec, nm = compile_problem(sub, where, _allowed(ctx, group, tasks, anchored), affinity=sticky)
    spec = _departures(ctx, _pinned(ctx, spec, nm, anchored, target), ids)
    # a pinned new pair needs only "different vehicles": local search can then insert each copy on its own
    loose = [(a, b) for a, b in spec.sync if nm.task_of_node[a] in target.pin]
    spec = dataclasses.replace(spec, sync=[p for p in spec.sync if p not in loose], apart=loose)
    raw = solve_spec(spec, _search(ctx, ids, nm, time_limit_s))
    if raw.status not in (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL):
        return None
    sub_plan = extract_plan(sub, spec, nm, raw, [])
    visits = Counter(v.task_id for r in sub_plan.routes for v in r.visits)
    roles = {
        (r.caregiver_id, v.task_id): v.role
        for r in ctx.plan.routes
        for v in r.visits
        if v.task_id in anchored
    }
    return Repair(
        routes={r.caregiver_id: _restore_roles(r, roles) for r in sub_plan.routes},
        dropped=tuple(
            t for t, task in tasks.items() if visits[t] < task.carers
        ),  # half a pair counts as dropped
        status=raw.status,
        routing_status=raw.routing_status,
        objective=raw.objective,
    )


def _departures(ctx: Context, spec: RoutingSpec, ids: list[str]) -> RoutingSpec:
    """A caregiver already out on started visits keeps the departure time they actually had."""
    vehicles = list(spec.vehicles)
    for v, cid in enumerate(ids):
        old = ctx.plan.route_of(cid)
        if old is not None and any(x.task_id in ctx.fixed for x in old.visits):
            vehicles[v] = dataclasses.replace(vehicles[v], fixed_start=old.depart)
    return dataclasses.replace(spec, vehicles=vehicles)
