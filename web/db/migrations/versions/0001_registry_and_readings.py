"""Registry (stations, homes, residents, devices), the reading hypertable and the dead-letter table.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    op.execute(
        """
        CREATE TABLE station (
            id text PRIMARY KEY,
            name text NOT NULL,
            lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
            lon double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
            travel_mode text NOT NULL DEFAULT 'walk' CHECK (travel_mode IN ('walk', 'ebike')),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE home (
            id text PRIMARY KEY,
            station_id text REFERENCES station(id),
            address text NOT NULL,
            lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
            lon double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
            access_notes text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX home_station_idx ON home (station_id);
        CREATE TABLE resident (
            id text PRIMARY KEY,
            home_id text NOT NULL REFERENCES home(id),
            name text NOT NULL,
            birth_year int CHECK (birth_year BETWEEN 1900 AND 2100),
            sex text CHECK (sex IN ('F', 'M')),
            living_alone boolean NOT NULL DEFAULT true,
            emergency_contacts jsonb NOT NULL DEFAULT '[]',
            care_notes text NOT NULL DEFAULT '',
            presence text NOT NULL DEFAULT 'home' CHECK (presence IN ('home', 'away', 'hospital')),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX resident_home_idx ON resident (home_id);
        CREATE TABLE device (
            id text PRIMARY KEY,
            home_id text REFERENCES home(id),
            kind text NOT NULL,
            room text,
            gateway_id text REFERENCES device(id),
            z2m_friendly_name text,
            status text NOT NULL DEFAULT 'registered' CHECK (status IN ('registered', 'provisioned', 'revoked')),
            password_hash text,
            provisioned_at timestamptz,
            revoked_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (gateway_id, z2m_friendly_name),
            CHECK ((gateway_id IS NULL) = (z2m_friendly_name IS NULL))
        );
        CREATE INDEX device_home_idx ON device (home_id);

        CREATE TABLE reading (
            time timestamptz NOT NULL,
            device_id text NOT NULL,
            seq bigint NOT NULL,
            kind text NOT NULL,
            home_id text,
            room text,
            data jsonb NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now()
        );
        SELECT create_hypertable('reading', 'time', chunk_time_interval => interval '1 day');
        CREATE UNIQUE INDEX reading_key ON reading (device_id, time, seq);
        CREATE INDEX reading_home_time_idx ON reading (home_id, time DESC);

        CREATE TABLE dead_letter (
            id bigserial PRIMARY KEY,
            received_at timestamptz NOT NULL DEFAULT now(),
            topic text NOT NULL,
            payload bytea NOT NULL,
            reason text NOT NULL,
            device_id text
        );
        CREATE INDEX dead_letter_received_idx ON dead_letter (received_at);
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE dead_letter; DROP TABLE reading; DROP TABLE device; DROP TABLE resident; DROP TABLE home; DROP TABLE station;"
    )
