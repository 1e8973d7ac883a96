"""Home-health-care benchmark (Mankowska et al. 2014): each instance mapped onto the product's Problem,
planned by the product's ``solve()``, re-checked against the raw instance, and scored with the published
objective against ``published.csv``."""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from devices.paths import shared_data_dir
from dispatcher.errors import BenchmarkInputError
from dispatcher.hhc.check import check
from dispatcher.hhc.instance import Published, parse_instance, read_published
from dispatcher.hhc.mapping import SCALE, PlaneProvider, to_problem
from dispatcher.scheduling.solve import solve
from dispatcher.scheduling.verify import verify_plan

SETS = ("A", "B", "C")


def data_dir() -> Path:
    """The Mankowska directory inside the shared data sets."""
    return shared_data_dir() / "mankowska"


@dataclass(frozen=True, slots=True)
class Entry:
    """One instance to run: its name, file and best-known objective."""

    name: str
    path: Path
    best_known: float | None

    @property
    def set(self) -> str:
        """The set of an instance named like A1 or B10 (its leading letters)."""
        m = re.match(r"[A-Za-z]+", self.name)
        return m.group(0).upper() if m else "-"


def entries(
    sets: Sequence[str] | None, directory: Path | None = None, published: Path | None = None
) -> list[Entry]:
    """The instances to run: those of ``published`` whose files are in ``directory``, in the chosen sets.

    Without a published file (other instances), every ``*.txt`` in ``directory`` runs, named by its stem
    and without a best-known objective.
    """
    directory = directory or data_dir()
    if not directory.is_dir():
        raise BenchmarkInputError(f"instance directory {directory} does not exist")
    if published is None and directory == data_dir():
        published = directory / "published.csv"
    if published is not None:
        rows: dict[str, Published] = read_published(published)
        found = [Entry(r.name, directory / r.file, r.best_known) for r in rows.values()]
        missing = [e.path.name for e in found if not e.path.is_file()]
        if missing:
            raise BenchmarkInputError(
                f"{len(missing)} instance file(s) missing in {directory}: {missing[:3]}"
            )
    else:
        found = [Entry(p.stem, p, None) for p in sorted(directory.glob("*.txt"))]
    if sets is not None:
        wanted = {s.strip().upper() for s in sets}
        unknown = wanted - {e.set for e in found}
        if unknown:
            raise BenchmarkInputError(f"no instances of set(s) {sorted(unknown)}")
        found = [e for e in found if e.set in wanted]
    if not found:
        raise BenchmarkInputError(f"no instances to run in {directory}")
    return sorted(found, key=_order)


def _order(e: Entry) -> tuple[str, int, str]:
    digits = re.findall(r"\d+", e.name)
    return e.set, int(digits[-1]) if digits else 0, e.name


def solve_instance(entry: Entry, *, time_limit_s: float) -> dict[str, Any]:
    """Map, plan with the product's planner, re-check twice (product verifier, raw instance), score."""
    inst = parse_instance(entry.path, entry.name)
    mapped = to_problem(inst)
    plan = solve(mapped.problem, time_limit_s=time_limit_s, travel=PlaneProvider())
    checked = check(inst, mapped, plan)
    verifier = verify_plan(plan, PlaneProvider())
    problems = [*checked.problems, *(f"verify_plan: {p}" for p in verifier)]
    if plan.unassigned:
        problems.append(
            f"{len(plan.unassigned)} task(s) unassigned: {[u.task_id for u in plan.unassigned][:5]}"
        )
    row: dict[str, Any] = {
        "set": entry.set,
        "status": plan.status.value,
        "valid": not problems,
        "objective": round(checked.objective, 2),
        "distance": round(checked.distance, 2),
        "tardiness": round(checked.tardiness, 2),
        "max_tardiness": round(checked.max_tardiness, 2),
        "unassigned": len(plan.unassigned),
        "problems": problems[:5],
        "solve_s": plan.solve_seconds,
        "best_known": entry.best_known,
        "gap_pct": None,
    }
    if entry.best_known and not problems:
        row["gap_pct"] = round(100 * (checked.objective - entry.best_known) / entry.best_known, 2)
    return row


def run(
    chosen: Sequence[Entry],
    *,
    time_limit_s: float = 60.0,
    on_instance: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return one JSON-serialisable report."""
    if time_limit_s <= 0:
        raise BenchmarkInputError("time limit must be positive")
    results: dict[str, dict[str, Any]] = {}
    for k, entry in enumerate(chosen):
        if on_instance is not None:
            on_instance(entry.name, k, len(chosen))
        results[entry.name] = solve_instance(entry, time_limit_s=time_limit_s)
    return {
        "invalid_plans": sum(1 for r in results.values() if not r["valid"]),
        "sets": summarise(results),
        "instances": results,
        "conditions": conditions(time_limit_s),
    }


def summarise(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per set: instances, valid plans, mean and worst gap to the best known (valid plans only)."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["set"] for r in results.values()):
        rows = [r for r in results.values() if r["set"] == name]
        gaps = [r["gap_pct"] for r in rows if r["gap_pct"] is not None]
        out[name] = {
            "count": len(rows),
            "valid": sum(1 for r in rows if r["valid"]),
            "mean_gap_pct": round(sum(gaps) / len(gaps), 3) if gaps else None,
            "max_gap_pct": max(gaps) if gaps else None,
            "gaps_counted": len(gaps),
        }
    return out


def conditions(time_limit_s: float) -> dict[str, Any]:
    """Measurement conditions reported with every run."""
    return {
        "time_limit_s": time_limit_s,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "ortools": version("ortools"),
        "machine": platform.machine(),
        "planner": "dispatcher.scheduling.solve.solve (the product's station-day planner)",
        "metaheuristic": "GUIDED_LOCAL_SEARCH",
        "scale": f"1/{SCALE} minute; travel rounded up, re-checked with the instance's real distances",
        "objective": "(distance + total tardiness + max tardiness) / 3, Mankowska et al. 2014",
        "solver_objective": "distance + total tardiness + max tardiness (travel, lateness and max_lateness weights)",
        "gap": "vs best_known of published.csv; valid plans only",
    }
