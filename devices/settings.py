"""Connection settings shared by every process; built by the CLI, passed down, never read from the environment here."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class DbSettings(BaseModel):
    """Where the PostgreSQL + TimescaleDB database is."""

    url: SecretStr = Field(description="libpq URL, e.g. postgresql://user:password@127.0.0.1:5432/eldercare")
    pool_min: int = Field(default=1, ge=0)
    pool_max: int = Field(default=10, ge=1)

    def conninfo(self) -> str:
        return self.url.get_secret_value()


class MqttSettings(BaseModel):
    """Where the broker is and which service account this process uses."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    # Files of a broker we manage (private stack): provisioning rewrites them and signals the broker.
    password_file: Path | None = None
    base_password_file: Path | None = None
    pid_file: Path | None = None
