"""All settings, from ``ELDERCARE_*`` environment variables or the stack's ``stack.env``, validated at start-up."""

from __future__ import annotations

import os
import re
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from devices.settings import DbSettings, MqttSettings
from monitor.alerts.outbox import NotifySettings

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
    notify_webhook_url: str | None = Field(
        default=None, description="alert notifications: default webhook URL"
    )
    notify_sms_url: str | None = Field(
        default=None, description="SMS-gateway HTTP API (JSON POST {to, text}) for family notifications"
    )
    notify_smtp_host: str | None = Field(default=None, description="SMTP host for e-mail notifications")
    notify_smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port")
    notify_email_from: str = Field(
        default="eldercare@localhost", description="sender of notification e-mails"
    )
    notify_webhook_allowlist: str = Field(
        default="",
        description="notification destinations staff may put in a ladder: URLs separated by spaces or commas "
        "(an entry ending in / allows the URLs under it); the default webhook URL is always allowed",
    )
    notify_timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="timeout of one notification attempt (each destination's own)"
    )
    env: Literal["development", "production"] = Field(
        default="development",
        description="development | production (production refuses default or weak secrets at start-up)",
    )
    trusted_proxies: str = Field(
        default="",
        description="addresses or networks of reverse proxies whose X-Forwarded-For is believed "
        "(comma-separated; empty: the peer address is the client)",
    )
    session_max_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="absolute session lifetime: no refresh after this (hours)"
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="largest request body the API reads (413 above it)"
    )
    dead_letter_days: float = Field(
        default=30, gt=0, description="`eldercare maintain` deletes dead letters older than this (days)"
    )

    def db(self) -> DbSettings:
        if self.db_url is None:
            raise RuntimeError(
                f"no database configured: run `eldercare stack up --dir {self.stack_dir}` or set ELDERCARE_DB_URL"
            )
        return DbSettings(url=self.db_url, pool_max=self.db_pool_max)

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        problems = weak_secrets(self) if self.env == "production" else []
        if problems:
            raise ValueError(
                "ELDERCARE_ENV=production refuses default or weak secrets: " + "; ".join(problems)
            )
        return self

    def notify(self) -> NotifySettings:
        return NotifySettings(
            webhook_url=self.notify_webhook_url,
            sms_url=self.notify_sms_url,
            smtp_host=self.notify_smtp_host,
            smtp_port=self.notify_smtp_port,
            email_from=self.notify_email_from,
            timeout_s=self.notify_timeout_s,
            webhook_allowlist=tuple(u for u in self.notify_webhook_allowlist.replace(",", " ").split() if u),
        )

    def proxies(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """The trusted reverse proxies (``ELDERCARE_TRUSTED_PROXIES``) as networks."""
        return tuple(
            ip_network(p.strip(), strict=False) for p in self.trusted_proxies.split(",") if p.strip()
        )

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


# Passwords that ship in examples, defaults and old demo builds; never acceptable in production.
KNOWN_DEFAULTS = frozenset({
    "", "eldercare", "postgres", "password", "changeme", "secret", "admin", "mosquitto",
    "demo-password-2026", "bench-password-1234",
})  # fmt: skip
MIN_SECRET_LENGTH = 16


def _weak(secret: str) -> str | None:
    if secret.lower() in KNOWN_DEFAULTS:
        return "empty or a known default" if secret else "empty"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(secret)) < 6:
        return "too few distinct characters"
    return None


def _url_password(url: SecretStr | None) -> str | None:
    if url is None:
        return None
    value = url.get_secret_value()
    if "://" in value:
        return unquote(urlsplit(value).password or "")
    found = re.search(r"(?:^|\s)password=(\S*)", value)  # libpq key=value form
    return found.group(1) if found else ""


def weak_secrets(settings: Settings) -> list[str]:
    """What is wrong with the deployment's secrets (empty when production may start); never the values."""
    problems = []
    checks = {
        "ELDERCARE_DB_URL (password)": _url_password(settings.db_url),
        "ELDERCARE_DB_ADMIN_URL (password)": _url_password(settings.db_admin_url),
        "ELDERCARE_MQTT_PASSWORD": settings.mqtt_password.get_secret_value(),
        "ELDERCARE_MQTT_OPS_PASSWORD": settings.mqtt_ops_password.get_secret_value(),
    }
    if settings.db_url is None:
        problems.append("ELDERCARE_DB_URL is not set")
    for name, secret in checks.items():
        reason = None if secret is None else _weak(secret)
        if reason is not None:
            problems.append(f"{name} is {reason}")
    return problems


def load_settings(stack_dir: Path | None = None) -> Settings:
    """Settings for a stack directory (option, then ELDERCARE_STACK_DIR, then ./var/stack)."""
    chosen = stack_dir or Path(os.environ.get("ELDERCARE_STACK_DIR", DEFAULT_STACK_DIR))
    env_file = chosen / "stack.env"
    settings = Settings(_env_file=env_file if env_file.exists() else None)
    if stack_dir is not None:
        settings.stack_dir = stack_dir
    return settings


def reference_markdown() -> str:
    """The configuration reference (docs/configuration.md), generated from the fields above."""
    lines = [
        "# Configuration reference",
        "",
        "Generated by `eldercare config --reference` from `web/settings.py`; do not edit by hand.",
        "Every setting is read from the environment variable first, then from the stack's `stack.env`.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        shown = (
            "(secret)" if isinstance(default, SecretStr) else "(none)" if default is None else str(default)
        )
        lines.append(f"| `ELDERCARE_{name.upper()}` | `{shown}` | {info.description or ''} |")
    return "\n".join(lines) + "\n"
