"""Alerts: the alert lifecycle and its history, rule state and settings per home/resident, escalation, outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE alert (
            id bigserial PRIMARY KEY,
            home_id text NOT NULL REFERENCES home(id),
            resident_id text REFERENCES resident(id),
            station_id text REFERENCES station(id),
            kind text NOT NULL,
            severity text NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
            status text NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'acknowledged', 'assigned', 'resolved')),
            started_at timestamptz NOT NULL,          -- when the condition began (data time)
            detected_at timestamptz NOT NULL,         -- the rule engine's "now" (data time)
            raised_at timestamptz NOT NULL DEFAULT clock_timestamp(),  -- when it was persisted (wall time)
            last_evidence_at timestamptz NOT NULL,
            occurrences integer NOT NULL DEFAULT 1,
            evidence jsonb NOT NULL DEFAULT '{}',
            reason_zh text NOT NULL,
            reason_en text NOT NULL,
            condition_cleared_at timestamptz,         -- the sensors say it is over; people still resolve it
            flaps integer NOT NULL DEFAULT 0,         -- times the condition cleared and came back (anti-flap)
            notify_after timestamptz,                 -- quiet hours: persisted now, people told later
            escalation_step integer NOT NULL DEFAULT 0,  -- the next step of the ladder to run
            escalate_at timestamptz,                  -- when it runs (NULL: nothing left or stopped)
            acknowledged_at timestamptz,
            acknowledged_by text,
            assigned_at timestamptz,
            assigned_by text,
            assigned_to text,                         -- a caregiver id
            task_id bigint,                           -- the urgent task made for it (dispatcher)
            resolved_at timestamptz,
            resolved_by text,
            outcome text CHECK (outcome IN ('real_incident', 'false_alarm', 'no_action_needed')),
            notes text NOT NULL DEFAULT '',
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
        );
        -- One alert per home and kind until people resolve it: repeated evidence updates it.
        CREATE UNIQUE INDEX alert_one_unresolved ON alert (home_id, kind) WHERE status <> 'resolved';
        CREATE INDEX alert_status_idx ON alert (status, raised_at DESC);
        CREATE INDEX alert_station_idx ON alert (station_id, raised_at DESC);
        CREATE INDEX alert_home_idx ON alert (home_id, raised_at DESC);
        CREATE INDEX alert_escalate_idx ON alert (escalate_at) WHERE escalate_at IS NOT NULL;

        -- Every transition: who, when, what.
        CREATE TABLE alert_event (
            id bigserial PRIMARY KEY,
            alert_id bigint NOT NULL REFERENCES alert(id),
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            actor text NOT NULL,
            action text NOT NULL,
            detail jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX alert_event_alert_idx ON alert_event (alert_id, id);

        -- Rule timers survive a restart: the engine's state per home, written with each batch.
        CREATE TABLE rule_state (
            home_id text PRIMARY KEY REFERENCES home(id),
            state jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE resident_rule_settings (
            resident_id text PRIMARY KEY REFERENCES resident(id),
            settings jsonb NOT NULL DEFAULT '{}',
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by text NOT NULL DEFAULT 'system'
        );
        CREATE TABLE resident_baseline (
            resident_id text PRIMARY KEY REFERENCES resident(id),
            baseline jsonb NOT NULL,
            built_at timestamptz NOT NULL DEFAULT now()
        );

        -- The escalation ladder of a station ('*' is the default for stations without their own).
        CREATE TABLE escalation_policy (
            station_id text PRIMARY KEY,
            steps jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by text NOT NULL DEFAULT 'system'
        );

        -- Notifications are written in the alert's transaction and sent afterwards, with retries.
        CREATE TABLE notification (
            id bigserial PRIMARY KEY,
            alert_id bigint NOT NULL REFERENCES alert(id),
            step integer NOT NULL,
            target text NOT NULL,
            channel text NOT NULL,
            recipient text NOT NULL,
            subject text NOT NULL,
            body text NOT NULL,
            status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            last_error text,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            sent_at timestamptz,
            UNIQUE (alert_id, step, channel, recipient)
        );
        CREATE INDEX notification_pending_idx ON notification (next_attempt_at) WHERE status = 'pending';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE notification;
        DROP TABLE escalation_policy;
        DROP TABLE resident_baseline;
        DROP TABLE resident_rule_settings;
        DROP TABLE rule_state;
        DROP TABLE alert_event;
        DROP TABLE alert;
        """
    )
