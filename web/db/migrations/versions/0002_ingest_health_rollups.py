"""Ingest support: idempotent dead letters, device health, hourly activity rollup, maintenance job runs, live event feed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- When a row reached the database (publish -> stored latency, ingest lag).
        ALTER TABLE reading ADD COLUMN stored_at timestamptz NOT NULL DEFAULT clock_timestamp();

        -- A redelivered bad message is kept once: the key is a hash of topic + payload.
        ALTER TABLE dead_letter ADD COLUMN msg_key bytea;
        CREATE UNIQUE INDEX dead_letter_msg_key ON dead_letter (msg_key);

        CREATE TABLE device_health (
            device_id text PRIMARY KEY,
            last_seen timestamptz,
            last_reading_at timestamptz,
            reported_status text CHECK (reported_status IN ('online', 'offline')),
            reported_status_at timestamptz,
            battery real,
            battery_low boolean,
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE activity_hourly (
            home_id text NOT NULL,
            room text NOT NULL,
            hour timestamptz NOT NULL,
            events integer NOT NULL,
            motion_events integer NOT NULL,
            water_l double precision NOT NULL DEFAULT 0,
            PRIMARY KEY (home_id, room, hour)
        );
        CREATE INDEX activity_hourly_hour_idx ON activity_hourly (hour);

        CREATE TABLE maintenance_run (
            job text NOT NULL,
            ran_at timestamptz NOT NULL DEFAULT now(),
            detail jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (job, ran_at)
        );

        -- The live feed (alerts, tasks, plans, device health) for websockets: ids only travel in NOTIFY,
        -- a reconnecting client reads what it missed from here by id.
        CREATE TABLE live_event (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            topic text NOT NULL,
            station_id text,
            home_id text,
            subject_id text,
            body jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX live_event_at_idx ON live_event (at);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE live_event;
        DROP TABLE maintenance_run;
        DROP TABLE activity_hourly;
        DROP TABLE device_health;
        DROP INDEX dead_letter_msg_key;
        ALTER TABLE dead_letter DROP COLUMN msg_key;
        ALTER TABLE reading DROP COLUMN stored_at;
        """
    )
