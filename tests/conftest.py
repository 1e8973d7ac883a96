"""Session fixtures: a private PostgreSQL+TimescaleDB and Mosquitto for the whole run (or the ones named by
ELDERCARE_TEST_STACK_DIR), migrated to head; connections that roll back."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests import support
from web import stack
from web.db import migrate
from web.settings import Settings, load_settings


@pytest.fixture(scope="session")
def stack_dir() -> Iterator[Path]:
    given = os.environ.get("ELDERCARE_TEST_STACK_DIR")
    if given:
        stack.up(Path(given))
        yield Path(given)
        return
    root = Path(tempfile.mkdtemp(prefix="eldercare-test-", dir="/tmp"))
    info = stack.up(root)
    assert info.healthy, info
    try:
        yield root
    finally:
        stack.down(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(stack_dir: Path) -> Settings:
    s = load_settings(stack_dir)
    migrate.upgrade(s.db())
    return s


@pytest.fixture
def db(settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection whose work is rolled back after the test."""
    with psycopg.connect(settings.db().conninfo()) as conn:
        yield conn
        if not conn.closed:  # a test that restarts the server closes it first
            conn.rollback()


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    yield
    support.kill_leftovers()
