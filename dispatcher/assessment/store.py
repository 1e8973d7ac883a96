"""Assessment records: append-only rows (migration 0007); a correction is a new row naming the one it corrects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from dispatcher.assessment.scoring import Modifiers, Result


@dataclass(frozen=True)
class AssessmentRow:
    id: int
    resident_id: str
    assessed_on: date
    reason: str
    assessors: list[str]
    answers: dict[str, Any]
    coma: bool
    dementia_or_mental_disorder: bool
    risk_events_30d: int
    evidence_notes: str
    scores: dict[str, int]
    total: int
    preliminary_level: str
    level: str
    adjustments: list[str]
    next_due: date
    corrects: int | None
    correction_reason: str | None
    recorded_by: str
    recorded_at: datetime


_COLS = (
    "id, resident_id, assessed_on, reason, assessors, answers, coma, dementia_or_mental_disorder, risk_events_30d, "
    "evidence_notes, scores, total, preliminary_level, level, adjustments, next_due, corrects, correction_reason, "
    "recorded_by, recorded_at"
)


def insert(
    conn: psycopg.Connection[Any],
    *,
    resident_id: str,
    assessed_on: date,
    reason: str,
    assessors: list[str],
    answers: dict[str, Any],
    modifiers: Modifiers,
    evidence_notes: str,
    result: Result,
    next_due: date,
    corrects: int | None,
    correction_reason: str | None,
    recorded_by: str,
) -> AssessmentRow:
    """Store one scored assessment (the caller has checked scope and, for a correction, the corrected row)."""
    with conn.cursor(row_factory=class_row(AssessmentRow)) as cur:
        row = cur.execute(
            "INSERT INTO assessment (resident_id, assessed_on, reason, assessors, answers, coma,"
            " dementia_or_mental_disorder, risk_events_30d, evidence_notes, scores, total, preliminary_level, level,"
            " adjustments, next_due, corrects, correction_reason, recorded_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING " + _COLS,
            (resident_id, assessed_on, reason, assessors, Jsonb(answers), modifiers.coma,
             modifiers.dementia_or_mental_disorder, modifiers.risk_events_30d, evidence_notes,
             Jsonb({d.value: s for d, s in result.dimension_scores.items()}), result.total,
             result.preliminary.code, result.level.code, result.adjustments, next_due, corrects, correction_reason,
             recorded_by),
        ).fetchone()  # fmt: skip
    assert row is not None
    return row


def history(conn: psycopg.Connection[Any], resident_id: str, *, limit: int = 100) -> list[AssessmentRow]:
    """A resident's assessments, the current one first (latest assessment date, then latest row)."""
    with conn.cursor(row_factory=class_row(AssessmentRow)) as cur:
        return cur.execute(
            "SELECT "
            + _COLS
            + " FROM assessment WHERE resident_id = %s ORDER BY assessed_on DESC, id DESC LIMIT %s",
            (resident_id, limit),
        ).fetchall()


def latest(conn: psycopg.Connection[Any], resident_id: str) -> AssessmentRow | None:
    """The assessment in force: of the rows no later row corrects, the latest by date, then the latest row."""
    with conn.cursor(row_factory=class_row(AssessmentRow)) as cur:
        return cur.execute(
            "SELECT " + _COLS + " FROM assessment a WHERE resident_id = %s"
            " AND NOT EXISTS (SELECT 1 FROM assessment c WHERE c.corrects = a.id)"
            " ORDER BY assessed_on DESC, id DESC LIMIT 1",
            (resident_id,),
        ).fetchone()


def belongs_to(conn: psycopg.Connection[Any], assessment_id: int, resident_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM assessment WHERE id = %s AND resident_id = %s", (assessment_id, resident_id)
    ).fetchone()
    return row is not None
