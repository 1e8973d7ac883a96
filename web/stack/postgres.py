"""A private PostgreSQL 15 cluster with TimescaleDB preloaded, in a directory of ours, on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from web.stack.proc import StackError, chown_tree, pid_alive, read_pid

APP_ROLE = "eldercare"
AUDIT_OWNER = "eldercare_audit"  # owns the audit log, so the application role can only append to it
APP_DB = "eldercare"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class PgPaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"


def bindir() -> Path:
    for candidate in (os.environ.get("ELDERCARE_PG_BINDIR"), "/usr/lib/postgresql/15/bin"):
        if candidate and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    raise StackError("PostgreSQL 15 server not found: run `bash scripts/install-system-deps.sh` first")


def _run(args: list[str], *, user: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, user=user, cwd=cwd, capture_output=True, text=True, check=False)


def is_initialised(paths: PgPaths) -> bool:
    return (paths.data / "PG_VERSION").exists()


def initialise(paths: PgPaths, *, port: int, superuser_password: str, user: str | None) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.run.mkdir(exist_ok=True)
    pwfile = paths.root / ".pwfile"
    pwfile.write_text(superuser_password + "\n")
    pwfile.chmod(0o600)
    chown_tree(paths.root, user)
    try:
        res = _run(
            [str(bindir() / "initdb"), "-D", str(paths.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
            user=user, cwd=paths.root,
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    if res.returncode != 0:
        raise StackError(
            f"initdb failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}"
        )
    write_config(paths, port=port)
    chown_tree(paths.root, user)


def write_config(paths: PgPaths, *, port: int) -> None:
    """Our settings live in an included file so the generated postgresql.conf stays untouched."""
    conf = f"""# written by eldercare stack: private cluster, loopback only
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{paths.run}'
unix_socket_permissions = 0700
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_connections = 300
max_worker_processes = 16
shared_buffers = 512MB
work_mem = 16MB
maintenance_work_mem = 128MB
max_wal_size = 2GB
checkpoint_timeout = 15min
timezone = 'UTC'
log_timezone = 'UTC'
"""
    (paths.data / "eldercare.conf").write_text(conf)
    main = paths.data / "postgresql.conf"
    text = main.read_text()
    if "include_if_exists = 'eldercare.conf'" not in text:
        main.write_text(text + "\ninclude_if_exists = 'eldercare.conf'\n")


def running_pid(paths: PgPaths) -> int | None:
    pid = read_pid(paths.data / "postmaster.pid")
    return pid if pid is not None and pid_alive(pid) else None


def start(paths: PgPaths, *, user: str | None) -> None:
    res = _run(
        [str(bindir() / "pg_ctl"), "-D", str(paths.data), "-l", str(paths.log), "-w", "-t", "60", "start"],
        user=user, cwd=paths.root,
    )  # fmt: skip
    if res.returncode != 0:
        tail = paths.log.read_text(errors="replace").strip().splitlines()[-3:] if paths.log.exists() else []
        raise StackError("PostgreSQL did not start: " + (" | ".join(tail) or res.stderr.strip()))


def stop(paths: PgPaths, *, user: str | None) -> None:
    if running_pid(paths) is None:
        return
    _run(
        [str(bindir() / "pg_ctl"), "-D", str(paths.data), "-m", "fast", "-w", "-t", "60", "stop"],
        user=user,
        cwd=paths.root,
    )


def admin_conninfo(paths: PgPaths, port: int, dbname: str = "postgres") -> str:
    return psycopg.conninfo.make_conninfo(host=str(paths.run), port=port, user=SUPERUSER, dbname=dbname)


def bootstrap(paths: PgPaths, *, port: int, app_password: str) -> None:
    """Create (or update) the application role and database and load TimescaleDB into it. Idempotent."""
    with psycopg.connect(admin_conninfo(paths, port), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
        verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                verb, sql.Identifier(APP_ROLE), sql.Literal(app_password)
            )
        )
        conn.execute(sql.SQL("GRANT pg_read_all_settings TO {}").format(sql.Identifier(APP_ROLE)))
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (AUDIT_OWNER,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(AUDIT_OWNER)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (APP_DB,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(APP_DB), sql.Identifier(APP_ROLE)
                )
            )
    with psycopg.connect(admin_conninfo(paths, port, APP_DB), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        _audit_membership(conn)


def _audit_membership(conn: psycopg.Connection) -> None:
    """Until migration 0006 has handed the audit log to its own role (schema ``audit`` exists), the application
    role is a member of that role WITH ADMIN OPTION, so the migration can do it and then revoke the membership
    itself; once it has, the application role is never a member again (it could undo the append-only log)."""
    sealed = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'audit'").fetchone() is not None
    member = conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (APP_ROLE, AUDIT_OWNER)).fetchone()
    roles = (sql.Identifier(AUDIT_OWNER), sql.Identifier(APP_ROLE))
    if sealed and member and member[0]:
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(*roles))
    elif not sealed and not (member and member[0]):
        conn.execute(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(*roles))


def health(url: str) -> tuple[bool, str]:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
            preload = conn.execute("SHOW shared_preload_libraries").fetchone()
            licence = conn.execute("SHOW timescaledb.license").fetchone()
    except psycopg.Error as exc:
        return False, f"unreachable: {str(exc).strip().splitlines()[0]}"
    if row is None:
        return False, "timescaledb extension missing"
    return (
        True,
        f"timescaledb {row[0]} ({licence[0] if licence else '?'} licence), preload={preload[0] if preload else ''}",
    )
