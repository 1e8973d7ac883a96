"""``eldercare db upgrade|downgrade|current``: one ordered, revertable Alembic history for the whole database."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TextIO

from alembic import command
from alembic.config import Config

from devices.settings import DbSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(db: DbSettings, *, stdout: TextIO | None = None) -> Config:
    cfg = Config(stdout=stdout) if stdout is not None else Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    url = db.conninfo()
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    cfg.attributes["sqlalchemy_url"] = url
    return cfg


def upgrade(db: DbSettings, revision: str = "heads") -> None:
    command.upgrade(alembic_config(db), revision)


def downgrade(db: DbSettings, revision: str) -> None:
    command.downgrade(alembic_config(db), revision)


def current(db: DbSettings) -> str:
    buf = io.StringIO()
    command.current(alembic_config(db, stdout=buf))
    return buf.getvalue().strip()
