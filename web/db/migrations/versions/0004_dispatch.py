"""Dispatch: caregivers, service plans, dated tasks, versioned plans with their visits, caregiver actions.

Also joins the two branches (alerts 0003 and web 0005) that both grew from 0002.

Revision ID: 0004
Revises: 0003, 0005
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004"
down_revision = ("0003", "0005")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE caregiver (
            id text PRIMARY KEY,
            station_id text NOT NULL REFERENCES station(id),
            name text NOT NULL,
            sex text NOT NULL CHECK (sex IN ('female', 'male')),
            skills text[] NOT NULL DEFAULT '{}',
            languages text[] NOT NULL DEFAULT '{}',
            travel_mode text NOT NULL DEFAULT 'walk' CHECK (travel_mode IN ('walk', 'ebike')),
            -- local times of day, e.g. [{"start": "08:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]
            shifts jsonb NOT NULL,
            break_minutes int NOT NULL DEFAULT 30 CHECK (break_minutes >= 0),
            max_work_minutes int NOT NULL DEFAULT 480 CHECK (max_work_minutes > 0),
            active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX caregiver_station_idx ON caregiver (station_id);

        -- A resident's recurring service; ``spec`` holds recurrence and the task template (see service_plans.py).
        CREATE TABLE service_plan (
            id text PRIMARY KEY,
            resident_id text NOT NULL REFERENCES resident(id),
            spec jsonb NOT NULL,
            active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE task (
            id bigserial PRIMARY KEY,
            station_id text NOT NULL REFERENCES station(id),
            home_id text NOT NULL REFERENCES home(id),
            day date NOT NULL,
            kind text NOT NULL
                CHECK (kind IN ('meal', 'bathing', 'cleaning', 'escort', 'visit', 'emergency')),
            duration_min int NOT NULL CHECK (duration_min > 0),
            window_start timestamptz NOT NULL,
            window_end timestamptz NOT NULL CHECK (window_end > window_start),
            skills text[] NOT NULL DEFAULT '{}',
            carers int NOT NULL DEFAULT 1 CHECK (carers IN (1, 2)),
            priority int NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),
            preferred_caregiver text REFERENCES caregiver(id),
            same_sex boolean NOT NULL DEFAULT false,
            urgent boolean NOT NULL DEFAULT false,
            declined_by text[] NOT NULL DEFAULT '{}',  -- caregivers who declined this urgent job
            replanned_at timestamptz,                -- urgent: the planner's last attempt (NULL: still to do)
            source text NOT NULL CHECK (source IN ('plan', 'booking', 'alert')),
            source_id text NOT NULL,
            alert_id bigint REFERENCES alert(id),
            status text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'planned', 'started', 'done', 'cancelled')),
            started_at timestamptz,
            done_at timestamptz,
            done_by text,
            notes text NOT NULL DEFAULT '',
            problem boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (source, source_id, day)          -- generating a day twice adds nothing
        );
        CREATE INDEX task_station_day_idx ON task (station_id, day);

        -- Every solve or re-plan is a new version; the highest version of a station-day is the current plan.
        CREATE TABLE plan (
            id bigserial PRIMARY KEY,
            station_id text NOT NULL REFERENCES station(id),
            day date NOT NULL,
            version int NOT NULL,
            status text NOT NULL,
            reason text NOT NULL DEFAULT 'plan',     -- 'plan' or 'replan:<task id>'
            body jsonb NOT NULL,                     -- the solver's Plan (routes, unassigned with reasons)
            diff jsonb,                              -- for a re-plan: what moved
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (station_id, day, version)
        );

        CREATE TABLE visit (
            plan_id bigint NOT NULL REFERENCES plan(id) ON DELETE CASCADE,
            task_id bigint NOT NULL REFERENCES task(id),
            caregiver_id text NOT NULL REFERENCES caregiver(id),
            seq int NOT NULL,
            eta timestamptz NOT NULL,
            planned_start timestamptz NOT NULL,
            planned_end timestamptz NOT NULL,
            partner text,
            PRIMARY KEY (plan_id, task_id, caregiver_id)
        );
        CREATE INDEX visit_caregiver_idx ON visit (caregiver_id, plan_id);

        -- Check-in / check-out (and accept / decline of an urgent job) from the phone, once per client action id.
        CREATE TABLE visit_action (
            client_action_id text PRIMARY KEY,
            task_id bigint NOT NULL REFERENCES task(id),
            caregiver_id text NOT NULL REFERENCES caregiver(id),
            action text NOT NULL CHECK (action IN ('check-in', 'check-out', 'accept', 'decline')),
            at timestamptz NOT NULL,
            lat double precision,
            lon double precision,
            recorded_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE visit_action, visit, plan, task, service_plan, caregiver")
