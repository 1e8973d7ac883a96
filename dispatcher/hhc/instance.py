"""Read a Mankowska et al. (2014) home-health-care instance (format: ../shared/data/mankowska/FORMAT.md)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from dispatcher.errors import BenchmarkInputError

SECTIONS = ("nbNodes", "nbVehi", "nbServi", "r", "DS", "a", "x", "y", "d", "p", "mind", "maxd", "e", "l")
SIMULTANEOUS_BELOW = 0.001  # as the reference parser: mind <= this means "start together"


@dataclass(frozen=True, slots=True)
class HhcInstance:
    """Nodes 0..n+1 (0 the depot, n+1 its copy), caregivers with skills, and what each patient needs.

    ``services[i]`` lists the 0-based services patient ``i`` requests (one, or two for a double service);
    ``p[i]`` is the processing time (the files hold the same value for every caregiver and service).
    """

    name: str
    caregivers: int
    skills: list[frozenset[int]]  # per caregiver: services it is qualified for
    services: list[list[int]]  # per node; empty for the depots
    double: frozenset[int]  # double-service patients
    x: list[float]
    y: list[float]
    d: list[list[float]]
    p: list[float]
    mind: list[float]
    maxd: list[float]
    e: list[float]
    l: list[float]  # noqa: E741 - the paper's name for the latest start without tardiness

    @property
    def patients(self) -> range:
        """Patient node ids (1..n)."""
        return range(1, len(self.x) - 1)

    def simultaneous(self, i: int) -> bool:
        """A double service whose two parts start together (else: in order, with a gap)."""
        return i in self.double and self.mind[i] <= SIMULTANEOUS_BELOW


def parse_instance(path: Path, name: str | None = None) -> HhcInstance:
    """Parse one instance file, raising BenchmarkInputError with the reason when it is malformed."""
    try:
        tokens = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkInputError(f"cannot read {path}: {exc}") from exc
    try:
        return _build(name or path.stem, _sections(tokens, path.name))
    except (ValueError, IndexError) as exc:
        raise BenchmarkInputError(f"{path.name}: malformed instance: {exc}") from exc


def _sections(tokens: list[str], fname: str) -> dict[str, list[str]]:
    at = {}
    for key in SECTIONS:
        if key not in tokens:
            raise BenchmarkInputError(f"{fname}: section {key!r} missing")
        at[key] = tokens.index(key)
    order = [at[k] for k in SECTIONS]
    if order != sorted(order):
        raise BenchmarkInputError(f"{fname}: sections out of order")
    bounds = [*order, len(tokens)]
    return {k: tokens[bounds[j] + 1 : bounds[j + 1]] for j, k in enumerate(SECTIONS)}


def _build(name: str, s: dict[str, list[str]]) -> HhcInstance:
    n_nodes, n_vehi, n_serv = int(s["nbNodes"][0]), int(s["nbVehi"][0]), int(s["nbServi"][0])
    if n_nodes < 3 or n_vehi < 1 or n_serv < 1:
        raise ValueError(f"sizes {n_nodes}/{n_vehi}/{n_serv}")
    r = _grid(s["r"], n_nodes, n_serv)
    a = _grid(s["a"], n_vehi, n_serv)
    d = _grid(s["d"], n_nodes, n_nodes)
    p_rows = _grid(s["p"], n_nodes * n_vehi, n_serv)
    double = frozenset(int(t) - 1 for t in s["DS"])
    services: list[list[int]] = [[]]
    for i in range(1, n_nodes - 1):
        wanted = [k for k in range(n_serv) if r[i][k]]
        if len(wanted) != (2 if i in double else 1):
            raise ValueError(f"patient {i} requests {len(wanted)} services")
        services.append(wanted)
    services.append([])
    vectors = {k: [float(v) for v in s[k]] for k in ("x", "y", "mind", "maxd", "e", "l")}
    if any(len(v) != n_nodes for v in vectors.values()):
        raise ValueError("a per-node line does not have nbNodes values")
    return HhcInstance(
        name=name,
        caregivers=n_vehi,
        skills=[frozenset(k for k in range(n_serv) if row[k]) for row in a],
        services=services,
        double=double,
        x=vectors["x"],
        y=vectors["y"],
        d=d,
        p=[max(p_rows[i * n_vehi]) for i in range(n_nodes)],  # caregiver 0's row, as the reference parser
        mind=vectors["mind"],
        maxd=vectors["maxd"],
        e=vectors["e"],
        l=vectors["l"],
    )


def _grid(values: list[str], rows: int, cols: int) -> list[list[float]]:
    if len(values) != rows * cols:
        raise ValueError(f"expected {rows}x{cols} values, found {len(values)}")
    flat = [float(v) for v in values]
    return [flat[k * cols : (k + 1) * cols] for k in range(rows)]


@dataclass(frozen=True, slots=True)
class Published:
    """An instance's file and best-known objective (None when the file gives none)."""

    name: str
    file: str
    best_known: float | None


def read_published(path: Path) -> dict[str, Published]:
    """Read ``published.csv`` (comment lines start with #; needs columns instance, file, best_known)."""
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
        rows = list(csv.DictReader(lines))
        out = {}
        for row in rows:
            best = (row.get("best_known") or "").strip()
            out[row["instance"]] = Published(row["instance"], row["file"], float(best) if best else None)
    except (OSError, UnicodeDecodeError, KeyError, ValueError, TypeError) as exc:
        raise BenchmarkInputError(f"cannot read published results {path}: {exc}") from exc
    if not out:
        raise BenchmarkInputError(f"no instances in {path}")
    return out
