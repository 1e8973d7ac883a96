"""`eldercare users add`: password from stdin or generated and printed once; the user can then log in."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices import registry
from web.api.app import create_app
from web.settings import Settings

pytestmark = [pytest.mark.db]


def _cli(stack_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args, "--dir", str(stack_dir)],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_users_add_with_stdin_and_generated_password(stack_dir: Path, settings: Settings) -> None:
    tag = uuid.uuid4().hex[:8]
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        registry.add_station(conn, id=f"cli-{tag}", name="站", lat=29.7, lon=106.6)
    piped = _cli(stack_dir, "users", "add", "--role", "staff", "--name", f"王芳-{tag}", "--station", f"cli-{tag}",
                 stdin="piped-password-123\n")  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "password" not in piped.stdout
    generated = _cli(stack_dir, "users", "add", "--role", "admin", "--name", f"admin-{tag}", stdin="")
    assert generated.returncode == 0, generated.stderr
    password = generated.stdout.strip().removeprefix("password: ")
    assert len(password) >= 16
    bad = _cli(stack_dir, "users", "add", "--role", "staff", "--name", f"x-{tag}", stdin="")
    assert bad.returncode == 1
    assert "needs at least one station" in bad.stderr
    with TestClient(create_app(settings, cookie_secure=False)) as client:
        for username, pw, role in (
            (f"王芳-{tag}", "piped-password-123", "staff"),
            (f"admin-{tag}", password, "admin"),
        ):
            r = client.post("/api/auth/login", json={"username": username, "password": pw})
            assert r.status_code == 200, r.text
            assert r.json()["user"]["role"] == role
        assert (
            client.post("/api/auth/login", json={"username": f"admin-{tag}", "password": "nope"}).status_code
            == 401
        )
