"""Backup and restore of the whole database with pg_dump/pg_restore, TimescaleDB's pre/post-restore hooks included."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from devices.errors import ValidationFailed
from web.stack.postgres import bindir


def _env_and_args(url: str, dbname: str | None = None) -> tuple[dict[str, str], list[str]]:
    """libpq parameters as arguments, the password in the environment (never on a command line)."""
    params = conninfo_to_dict(url)
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = str(params.pop("password"))
    if dbname is not None:
        params["dbname"] = dbname
    return env, ["-d", make_conninfo(**{k: str(v) for k, v in params.items()})]


def backup(db_url: str, path: Path) -> int:
    """Dump the database (custom format, readings included) to ``path``; returns its size in bytes."""
    env, target = _env_and_args(db_url)
    proc = subprocess.run(
        [str(bindir() / "pg_dump"), "-Fc", "-f", str(path), *target],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {proc.stderr.strip()[-500:]}")
    return path.stat().st_size


def restore(admin_url: str, path: Path, *, target_db: str, owner: str) -> None:
    """Restore a dump into a new database ``target_db`` (which must not exist), owned by ``owner``."""
    if not path.is_file():
        raise ValidationFailed(f"no backup file at {path}", code="no_backup")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target_db,)).fetchone()
        if exists:
            raise ValidationFailed(f"database {target_db!r} exists; restore into a new one", code="db_exists")
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(target_db), sql.Identifier(owner))
        )
    target_url = make_conninfo(admin_url, dbname=target_db)
    with psycopg.connect(target_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("SELECT timescaledb_pre_restore()")
    env, target = _env_and_args(admin_url, target_db)
    proc = subprocess.run(
        [str(bindir() / "pg_restore"), "--exit-on-error", *target, str(path)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    with psycopg.connect(target_url, autocommit=True) as conn:
        conn.execute("SELECT timescaledb_post_restore()")
        _keep_audit_append_only(conn, owner)
    if proc.returncode != 0:
        raise RuntimeError(f"pg_restore failed: {proc.stderr.strip()[-800:]}")


def _keep_audit_append_only(conn: psycopg.Connection, owner: str) -> None:
    """A restored audit log (migration 0006) stays append-only: its owner role must not be one of ``owner``'s
    (a fresh stack grants it until its own database is migrated)."""
    if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'audit'").fetchone() is None:
        return
    member = conn.execute("SELECT pg_has_role(%s, 'eldercare_audit', 'MEMBER')", (owner,)).fetchone()
    if member and member[0]:
        conn.execute(sql.SQL("REVOKE eldercare_audit FROM {}").format(sql.Identifier(owner)))
