"""Web: users and their scope, sessions with refresh tokens, login attempts (throttling), the audit log.

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE app_user (
            id bigserial PRIMARY KEY,
            username text NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
            name text NOT NULL,
            role text NOT NULL CHECK (role IN ('admin', 'staff', 'caregiver', 'family')),
            password_hash text NOT NULL,
            caregiver_id text,
            created_at timestamptz NOT NULL DEFAULT now(),
            disabled_at timestamptz
        );
        -- Staff and caregivers belong to stations; family members to residents (their relatives).
        CREATE TABLE user_station (
            user_id bigint NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
            station_id text NOT NULL REFERENCES station(id),
            PRIMARY KEY (user_id, station_id)
        );
        CREATE TABLE user_resident (
            user_id bigint NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
            resident_id text NOT NULL REFERENCES resident(id),
            PRIMARY KEY (user_id, resident_id)
        );
        -- Opaque tokens, stored only as SHA-256 digests; the access token is short-lived, the refresh
        -- token rotates on every use.
        CREATE TABLE web_session (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
            access_hash bytea NOT NULL UNIQUE,
            access_expires_at timestamptz NOT NULL,
            refresh_hash bytea NOT NULL UNIQUE,
            refresh_expires_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz,
            ip text,
            user_agent text
        );
        CREATE INDEX web_session_user_idx ON web_session (user_id);
        CREATE TABLE login_attempt (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            username text NOT NULL,
            ip text NOT NULL,
            ok boolean NOT NULL
        );
        CREATE INDEX login_attempt_user_idx ON login_attempt (username, at);
        CREATE INDEX login_attempt_ip_idx ON login_attempt (ip, at);
        -- Every read of residents' personal data: who, what, when, why.
        CREATE TABLE audit_log (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            user_id bigint REFERENCES app_user(id) ON DELETE SET NULL,
            username text NOT NULL,
            role text NOT NULL,
            action text NOT NULL,
            resource text NOT NULL,
            resident_ids text[] NOT NULL DEFAULT '{}',
            reason text NOT NULL,
            ip text
        );
        CREATE INDEX audit_log_at_idx ON audit_log (at);
        CREATE INDEX audit_log_residents_idx ON audit_log USING gin (resident_ids);
        CREATE INDEX audit_log_user_idx ON audit_log (user_id, at);
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE audit_log; DROP TABLE login_attempt; DROP TABLE web_session; "
        "DROP TABLE user_resident; DROP TABLE user_station; DROP TABLE app_user;"
    )
