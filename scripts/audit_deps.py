"""Dependency audit of the lock files, run by ``bash scripts/setup.sh test``.

1. ``pip-audit`` (installed from the dev lock) checks every pinned release against its vulnerability
   service. A known vulnerability fails the run, with the advisory and the fixed versions.
2. ``scripts/advisories.txt`` lists advisories this project has pinned past; the lock is checked against
   it offline, so those never come back even when (1) cannot reach its service.

When pip-audit cannot look a release up (no network, or an index mirror without PyPI's per-release JSON),
it would say "No known vulnerabilities found" while checking nothing: here every unchecked package is
counted and reported as such. An incomplete audit fails only with ``ELDERCARE_AUDIT_STRICT=1`` (set it
where the service is reachable), so a machine without access is told clearly instead of failing always.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ \\;]+)", re.MULTILINE)


def _say(message: str) -> None:
    sys.stderr.write(f"[audit] {message}\n")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:4])


def pins(lock: Path) -> dict[str, str]:
    """``name -> version`` of a pip-compile lock (names normalised)."""
    text = lock.read_text(encoding="utf-8")
    return {re.sub(r"[-_.]+", "-", m[1]).lower(): m[2] for m in PIN.finditer(text)}


def offline_check(locked: dict[str, str], advisories: Path) -> list[str]:
    """Locked releases older than a recorded advisory's fixed version."""
    problems = []
    for line in advisories.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, fixed, advisory = line.split(None, 2)
        have = locked.get(name.lower())
        if have is not None and _version(have) < _version(fixed):
            problems.append(f"{name} {have} < {fixed}: {advisory}")
    return problems


def pip_audit(lock: Path) -> tuple[list[str], list[str], str]:
    """(vulnerabilities found, packages that could not be checked, error) from pip-audit."""
    cmd = [str(Path(sys.executable).parent / "pip-audit"), "-r", str(lock), "--no-deps", "--disable-pip",
           "--progress-spinner", "off", "-f", "json"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return [], [], (proc.stderr.strip().splitlines() or ["pip-audit gave no report"])[-1]
    found, unchecked = [], []
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            unchecked.append(f"{dep['name']}: {dep['skip_reason']}")
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
            found.append(f"{dep['name']} {dep.get('version')}: {vuln['id']} (fixed in {fixes})")
    return found, unchecked, ""


def main() -> int:
    locks = [ROOT / "requirements.lock", ROOT / "requirements-dev.lock"]
    locked: dict[str, str] = {}
    for lock in locks:
        locked |= pins(lock)
    failed = False
    for problem in offline_check(locked, ROOT / "scripts" / "advisories.txt"):
        _say(f"KNOWN VULNERABILITY (recorded advisory): {problem}")
        failed = True
    found, unchecked, error = pip_audit(locks[-1])  # the dev lock includes every runtime pin
    for vuln in found:
        _say(f"KNOWN VULNERABILITY: {vuln}")
    failed = failed or bool(found)
    incomplete = bool(error) or bool(unchecked)
    if error:
        _say(f"pip-audit could not run its audit: {error}")
    if unchecked:
        _say(f"AUDIT INCOMPLETE: {len(unchecked)} of {len(locked)} locked packages could not be looked up by "
             f"pip-audit's vulnerability service, e.g. {unchecked[0]}")  # fmt: skip
    if incomplete:
        strict = os.environ.get("ELDERCARE_AUDIT_STRICT") == "1"
        _say(
            "only the recorded advisories (scripts/advisories.txt) were checked; "
            + ("failing (ELDERCARE_AUDIT_STRICT=1)" if strict else "set ELDERCARE_AUDIT_STRICT=1 to fail")
        )
        failed = failed or strict
    if not failed and not incomplete:
        _say(f"{len(locked)} locked packages: no known vulnerabilities")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
