"""Ability assessments (GB/T 42195-2022) and residents' categories for the basic eldercare service list.

``assessment`` is history: a row is never changed or removed (a trigger refuses UPDATE, DELETE and TRUNCATE);
a correction is a new row naming the one it corrects and why. The scores and level are stored as computed
when the row was written, next to the answers they were computed from.

``resident_category`` holds the categories (特困, 低保, 低保边缘, 高龄, 独居, 空巢, 留守, 计划生育特殊家庭) that,
with the latest level and the age, decide the entitlements. A category that no longer applies is ended
(``ended_at``), not deleted, so what a resident was entitled to in a past month can still be worked out.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LEVELS = "'intact', 'mild', 'moderate', 'severe', 'lost'"
CATEGORIES = (
    "'tekun', 'dibao', 'dibao_edge', 'gaoling', 'living_alone', 'empty_nest', 'left_behind', "
    "'family_planning_special'"
)


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE assessment (
            id bigserial PRIMARY KEY,
            resident_id text NOT NULL REFERENCES resident(id),
            assessed_on date NOT NULL,
            reason text NOT NULL CHECK (reason IN ('first', 'routine', 'immediate', 'review', 'other')),
            assessors text[] NOT NULL CHECK (cardinality(assessors) BETWEEN 1 AND 10),
            answers jsonb NOT NULL,
            coma boolean NOT NULL DEFAULT false,
            dementia_or_mental_disorder boolean NOT NULL DEFAULT false,
            risk_events_30d int NOT NULL DEFAULT 0 CHECK (risk_events_30d >= 0),
            evidence_notes text NOT NULL DEFAULT '',
            scores jsonb NOT NULL,
            total int NOT NULL CHECK (total BETWEEN 0 AND 90),
            preliminary_level text NOT NULL CHECK (preliminary_level IN ({LEVELS})),
            level text NOT NULL CHECK (level IN ({LEVELS})),
            adjustments text[] NOT NULL DEFAULT '{{}}',
            next_due date NOT NULL CHECK (next_due > assessed_on),
            corrects bigint REFERENCES assessment(id),
            correction_reason text CHECK ((corrects IS NULL) = (correction_reason IS NULL)),
            recorded_by text NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX assessment_resident_idx ON assessment (resident_id, assessed_on DESC, id DESC);
        CREATE INDEX assessment_due_idx ON assessment (next_due);
        CREATE FUNCTION assessment_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'assessments are history: record a correction as a new row'
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER assessment_append_only BEFORE UPDATE OR DELETE ON assessment
            FOR EACH ROW EXECUTE FUNCTION assessment_refuse_change();
        CREATE TRIGGER assessment_no_truncate BEFORE TRUNCATE ON assessment
            FOR EACH STATEMENT EXECUTE FUNCTION assessment_refuse_change();
        CREATE TABLE resident_category (
            id bigserial PRIMARY KEY,
            resident_id text NOT NULL REFERENCES resident(id),
            category text NOT NULL CHECK (category IN ({CATEGORIES})),
            since date,
            evidence text NOT NULL DEFAULT '',
            recorded_by text NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            ended_at timestamptz,
            ended_by text,
            CHECK ((ended_at IS NULL) = (ended_by IS NULL))
        );
        CREATE UNIQUE INDEX resident_category_current ON resident_category (resident_id, category)
            WHERE ended_at IS NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE resident_category; DROP TABLE assessment; DROP FUNCTION assessment_refuse_change();"
    )
