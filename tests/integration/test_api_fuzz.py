"""Property-based fuzzing from the published OpenAPI schema (schemathesis): no request ends in a 5xx."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import psycopg
import pytest
import schemathesis

from web.api.bench import server
from web.auth import users
from web.auth.principal import Role
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(600)]
PASSWORD = "fuzz-password-1234"
EXAMPLES = 25


@pytest.fixture(scope="module")
def running(settings: Settings) -> Iterator[dict[str, str]]:
    name = f"fuzz-admin-{uuid.uuid4().hex[:6]}"
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        users.create_user(conn, username=name, name="fuzz", role=Role.ADMIN, password=PASSWORD)
    with server(settings) as base:
        r = httpx.post(base + "/api/auth/login", json={"username": name, "password": PASSWORD})
        yield {"base": base, "token": r.raise_for_status().json()["access_token"]}


def test_no_server_errors(running: dict[str, str]) -> None:
    loaded = schemathesis.openapi.from_url(running["base"] + "/openapi.json")
    # Logging in with random names would trip the throttle; logging out would end the fuzzer's session;
    # disabling users, resetting passwords and ending sessions with random ids would lock out the users of
    # other tests in this database (those endpoints are tested in test_auth_hardening.py).
    schema = loaded.exclude(path_regex="^/api/auth/|^/api/users/[^/]+/")
    headers = {"Authorization": f"Bearer {running['token']}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15

    for operation in operations:

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy())
        def fuzz(case: Any) -> None:
            response = case.call(base_url=running["base"], headers=headers)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                )

        fuzz()
    assert failures == []
