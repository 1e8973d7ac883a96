"""All settings, from ``ELDERCARE_*`` environment variables or the stack's ``stack.env``, validated at start-up."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from devices.settings import DbSettings, MqttSettings

DEFAULT_STACK_DIR = Path("var/stack")


class Settings(BaseSettings):
    """Environment variables win over the stack.env file, so the same code runs against external servers."""

    model_config = SettingsConfigDict(env_prefix="ELDERCARE_", extra="ignore")

    stack_dir: Path = Field(
        default=DEFAULT_STACK_DIR, description="directory of the private stack (`eldercare stack`)"
    )
    db_url: SecretStr | None = Field(default=None, description="application database URL (libpq)")
    db_admin_url: SecretStr | None = Field(
        default=None, description="superuser URL, for tests, backup and restore"
    )
    db_pool_max: int = Field(default=10, ge=1, description="connections per process pool")
    mqtt_host: str = Field(default="127.0.0.1", description="broker host")
    mqtt_port: int = Field(default=1883, ge=1, le=65535, description="broker port")
    mqtt_username: str = Field(default="svc-ingest", description="this process's broker account")
    mqtt_password: SecretStr = Field(default=SecretStr(""), description="its password")
    mqtt_ops_username: str = Field(default="svc-ops", description="operations account (tests, benches)")
    mqtt_ops_password: SecretStr = Field(default=SecretStr(""), description="its password")
    mqtt_password_file: Path | None = Field(
        default=None, description="broker password file that provisioning rewrites"
    )
    mqtt_base_password_file: Path | None = Field(default=None, description="service accounts part of it")
    mqtt_pid_file: Path | None = Field(
        default=None, description="broker pid, signalled (SIGHUP) after provisioning"
    )
    env: str = Field(
        default="development", description="development | production (production refuses default secrets)"
    )

    def db(self) -> DbSettings:
        if self.db_url is None:
            raise RuntimeError(
                f"no database configured: run `eldercare stack up --dir {self.stack_dir}` or set ELDERCARE_DB_URL"
            )
        return DbSettings(url=self.db_url, pool_max=self.db_pool_max)

    def mqtt(self, *, ops: bool = False) -> MqttSettings:
        return MqttSettings(
            host=self.mqtt_host,
            port=self.mqtt_port,
            username=self.mqtt_ops_username if ops else self.mqtt_username,
            password=self.mqtt_ops_password if ops else self.mqtt_password,
            password_file=self.mqtt_password_file,
            base_password_file=self.mqtt_base_password_file,
            pid_file=self.mqtt_pid_file,
        )


def load_settings(stack_dir: Path | None = None) -> Settings:
    """Settings for a stack directory (option, then ELDERCARE_STACK_DIR, then ./var/stack)."""
    chosen = stack_dir or Path(os.environ.get("ELDERCARE_STACK_DIR", DEFAULT_STACK_DIR))
    env_file = chosen / "stack.env"
    settings = Settings(_env_file=env_file if env_file.exists() else None)
    if stack_dir is not None:
        settings.stack_dir = stack_dir
    return settings
