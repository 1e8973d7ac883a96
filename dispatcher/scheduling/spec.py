"""The integer routing data every planner model is built from (care days and Solomon benchmarks alike)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SolveStatus(StrEnum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    TIMEOUT = "timeout"
    MODEL_INVALID = "model_invalid"


@dataclass(frozen=True, slots=True)
class BreakSpec:
    """A break interval: start in [start_min, start_max], fixed duration, never during a visit."""

    name: str
    start_min: int
    start_max: int
    duration: int
    optional: bool = False


@dataclass(slots=True)
class NodeSpec:
    """One visit node: service-start ranges, service minutes, demand, drop penalty (None = mandatory)."""

    name: str
    starts: list[tuple[int, int]]  # allowed [lo, hi] ranges of the service start
    service: int = 0
    demand: int = 0
    penalty: int | None = None
    allowed_vehicles: list[int] | None = None  # None = every vehicle
    # per-vehicle extra cost when this node is served by that vehicle (continuity of care, stickiness)
    vehicle_costs: dict[int, int] = field(default_factory=dict)
    default_vehicle_cost: int = 0
    soft_latest: tuple[int, int] | None = None  # (latest start without cost, cost per unit past it)


@dataclass(frozen=True, slots=True)
class GapSpec:
    """Node ``second`` starts ``min_gap``..``max_gap`` (None: no maximum) after node ``first`` when both are served."""

    first: int
    second: int
    min_gap: int
    max_gap: int | None = None


@dataclass(slots=True)
class VehicleSpec:
    """One vehicle (caregiver): depot nodes, time range, matrix classes, limits and breaks."""

    name: str
    start_node: int
    end_node: int
    earliest_start: int
    latest_end: int
    time_class: int = 0
    cost_class: int = 0
    capacity: int = 0
    fixed_cost: int = 0
    max_span: int | None = None
    soft_end: tuple[int, int] | None = None  # (upper bound, cost per unit) on the end time
    breaks: list[BreakSpec] = field(default_factory=list)
    fixed_start: int | None = None  # a departure that already happened (re-planning)


@dataclass(slots=True)
class RoutingSpec:
    """Nodes 0..n-1 (depots are ordinary nodes without service), vehicles, and matrices per class.

    ``travel[c][i][j]`` is travel time for time class ``c`` (service is added by the model);
    ``cost[c][i][j]`` is the arc cost for cost class ``c``. ``sync`` pairs must start at the same
    time on different vehicles and are performed together or not at all.
    """

    nodes: list[NodeSpec]
    vehicles: list[VehicleSpec]
    travel: list[list[list[int]]]
    cost: list[list[list[int]]]
    horizon: int
    depots: frozenset[int] = frozenset()
    sync: list[tuple[int, int]] = field(default_factory=list)
    apart: list[tuple[int, int]] = field(default_factory=list)  # only "different vehicles" (relaxed pairs)
    gaps: list[GapSpec] = field(default_factory=list)  # precedence with a minimum and maximum gap
    max_late_cost: int = 0  # per unit of the largest lateness (past soft_latest) over all nodes
    use_capacity: bool = False


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """Search settings; ``initial_routes`` (node lists per vehicle) seed the search, ``locked`` prefixes stay."""

    time_limit_s: float = 10.0
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    initial_routes: list[list[int]] | None = None
    locked_prefix: list[list[int]] | None = None
    fixed_starts: dict[int, int] | None = None  # node -> service start that may not move
    earliest_start: int | None = None  # no unlocked visit may start before this minute (re-planning)
    log_search: bool = False
    stop_below: int | None = None  # end the search at the first solution whose objective is below this


@dataclass(frozen=True, slots=True)
class RawVisit:
    """A solved visit: node, vehicle, service start (the time cumul), arrival after travel."""

    node: int
    start: int
    arrival: int


@dataclass(frozen=True, slots=True)
class RawBreak:
    """A solved break of one vehicle."""

    name: str
    start: int
    duration: int
    performed: bool


@dataclass(slots=True)
class RawSolution:
    """Solver output before it is mapped back to domain objects."""

    status: SolveStatus
    routes: list[list[RawVisit]]
    depart: list[int]
    arrive: list[int]
    breaks: list[list[RawBreak]]
    dropped: list[int]
    objective: int
    wall_s: float
    routing_status: str


def interchangeable(spec: RoutingSpec, a: int, b: int) -> bool:
    """Whether the two copies of a pair are alike (same starts, service and caregivers), so may be swapped."""
    x, y = spec.nodes[a], spec.nodes[b]
    return (x.starts, x.service, x.allowed_vehicles) == (y.starts, y.service, y.allowed_vehicles)
