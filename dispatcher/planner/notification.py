"""The ``urgent_task`` notification payload: one task id in decimal ASCII digits, nothing else."""

from __future__ import annotations

import re

# at most 18 digits: always inside PostgreSQL's bigint, and never a huge int to parse
_TASK_ID = re.compile(r"[0-9]{1,18}")
MAX_SHOWN = 80  # a bad payload is logged, truncated: NOTIFY payloads may be 8000 bytes


class BadNotification(ValueError):
    """A payload that is not a task id (counted and logged; the planner goes on)."""


def parse_task_id(payload: str) -> int:
    """The task id of a notification; :class:`BadNotification` for anything else (``str.isdigit`` would accept
    ``"²"`` or Arabic-Indic digits, and ``int`` a 5,000-digit number)."""
    if _TASK_ID.fullmatch(payload) is None:
        shown = payload if len(payload) <= MAX_SHOWN else payload[:MAX_SHOWN] + f"… ({len(payload)} chars)"
        raise BadNotification(f"not a task id: {shown!r}")
    task_id = int(payload)
    if task_id == 0:
        raise BadNotification("not a task id: 0")
    return task_id
