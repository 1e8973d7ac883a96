"""Authentication errors; web/api/errors.py maps them to 401 and 429."""

from __future__ import annotations

from devices.errors import EldercareError


class NotAuthenticated(EldercareError):
    """No valid credentials (missing, wrong, expired or revoked)."""

    code = "not_authenticated"


class Throttled(EldercareError):
    """Too many failed logins for this account or address; try again later."""

    code = "throttled"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
