"""The audit log becomes append-only for the application role.

The application role owns the database (and so the ``public`` schema, whose owner may drop anything in it), so
revoking its own UPDATE/DELETE would be undone by one GRANT. Instead the table moves to schema ``audit``, owned
with the table and its guard trigger by ``eldercare_audit`` (NOLOGIN). The application role keeps SELECT and
INSERT; it can neither change nor remove past rows, nor drop or disable the trigger. The trigger also stops
a superuser's accidental UPDATE/DELETE/TRUNCATE. ``public.audit_log`` remains as a view for readers.

Handing the table over needs membership in ``eldercare_audit`` once: ``eldercare stack up`` creates the role and
grants it WITH ADMIN OPTION; this migration then revokes that membership itself. Against an external server
a superuser does the same (``CREATE ROLE eldercare_audit NOLOGIN; GRANT eldercare_audit TO <app role> WITH
ADMIN OPTION``) or runs the migration. Users with audit rows can no longer be deleted (disable them).
Downgrading needs a superuser (or that membership again).

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03
"""

from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

_CHECK = """
DO $$
DECLARE
    app text := (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database());
    superuser boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'eldercare_audit') THEN
        RAISE EXCEPTION 'role eldercare_audit does not exist'
            USING HINT = format('as a superuser: CREATE ROLE eldercare_audit NOLOGIN; '
                                'GRANT eldercare_audit TO %I WITH ADMIN OPTION; then upgrade again', app);
    END IF;
    IF NOT superuser AND NOT pg_has_role(current_user, 'eldercare_audit', 'MEMBER') THEN
        RAISE EXCEPTION 'role % is not a member of eldercare_audit', current_user
            USING HINT = format('as a superuser: GRANT eldercare_audit TO %I WITH ADMIN OPTION; '
                                'then upgrade again (this migration revokes it)', current_user);
    END IF;
END $$;
"""


def upgrade() -> None:
    op.execute(_CHECK)
    op.execute(
        """
        CREATE SCHEMA audit AUTHORIZATION eldercare_audit;
        REVOKE ALL ON SCHEMA audit FROM PUBLIC;
        ALTER TABLE public.audit_log SET SCHEMA audit;
        -- ON DELETE SET NULL would be an UPDATE of the log: a user with audit rows is disabled, not deleted.
        ALTER TABLE audit.audit_log DROP CONSTRAINT audit_log_user_id_fkey,
            ADD CONSTRAINT audit_log_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.app_user (id);
        CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit.audit_log
            FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit.audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
        ALTER FUNCTION audit.refuse_change() OWNER TO eldercare_audit;
        ALTER TABLE audit.audit_log OWNER TO eldercare_audit;
        REVOKE ALL ON audit.audit_log FROM PUBLIC;
        DO $$
        DECLARE
            app text := (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database());
        BEGIN
            EXECUTE format('GRANT USAGE ON SCHEMA audit TO %I', app);
            EXECUTE format('GRANT SELECT, INSERT ON audit.audit_log TO %I', app);
            EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE audit.audit_log_id_seq TO %I', app);
            IF pg_has_role(app, 'eldercare_audit', 'MEMBER') THEN
                EXECUTE format('REVOKE eldercare_audit FROM %I', app);
            END IF;
            IF pg_has_role(app, 'eldercare_audit', 'MEMBER') THEN
                RAISE EXCEPTION 'could not revoke eldercare_audit from %', app;
            END IF;
        END $$;
        CREATE VIEW public.audit_log AS SELECT * FROM audit.audit_log;
        DO $$
        BEGIN
            EXECUTE format('ALTER VIEW public.audit_log OWNER TO %I',
                           (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()));
        END $$;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP VIEW public.audit_log;
        DO $$
        BEGIN
            EXECUTE format('ALTER TABLE audit.audit_log OWNER TO %I',
                           (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()));
        END $$;
        DROP TRIGGER audit_log_append_only ON audit.audit_log;
        DROP TRIGGER audit_log_no_truncate ON audit.audit_log;
        DROP FUNCTION audit.refuse_change();
        ALTER TABLE audit.audit_log DROP CONSTRAINT audit_log_user_id_fkey,
            ADD CONSTRAINT audit_log_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.app_user (id)
                ON DELETE SET NULL;
        ALTER TABLE audit.audit_log SET SCHEMA public;
        DROP SCHEMA audit;
        """
    )
