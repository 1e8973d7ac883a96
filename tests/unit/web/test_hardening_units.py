"""Pure parts of the hardening: throttle arithmetic, forwarded-for parsing, production secrets, demo password."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from web.api.limits import forwarded_client
from web.auth import throttle
from web.demo import neighbourhood
from web.settings import Settings, weak_secrets

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@given(
    account=st.integers(min_value=0, max_value=10_000),
    last=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
)
def test_a_client_with_no_failures_is_never_refused(account: int, last: datetime | None) -> None:
    history = throttle.History(pair_failures=0, last_failure=last, account_failures=account)
    assert throttle.retry_after(history, T0) == 0


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=5))
def test_backoff_is_monotonic_and_capped(failures: int, free: int) -> None:
    delay = throttle.delay_after(failures, free=free)
    assert timedelta(0) <= delay <= throttle.MAX_DELAY
    assert delay <= throttle.delay_after(failures + 1, free=free)
    if failures < max(free, 1):
        assert delay == timedelta(0)


@given(failures=st.integers(min_value=1, max_value=50), waited=st.integers(min_value=0, max_value=3600))
def test_a_pair_waits_at_most_the_cap(failures: int, waited: int) -> None:
    history = throttle.History(pair_failures=failures, last_failure=T0, account_failures=failures)
    wait = throttle.retry_after(history, T0 + timedelta(seconds=waited))
    assert 0 <= wait <= throttle.MAX_DELAY.total_seconds()
    if waited >= throttle.MAX_DELAY.total_seconds():
        assert wait == 0


PROXIES = (ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("203.0.113.1", "198.51.100.1", "203.0.113.1"),  # not a proxy: the header is the client's own say
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "1.2.3.4, 198.51.100.1, 10.0.0.9", "198.51.100.1"),  # rightmost untrusted hop
        ("10.0.0.2", "not-an-ip", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "10.0.0.3", "10.0.0.3"),  # only proxies: the first one
    ],
)
def test_forwarded_client(peer: str, header: str | None, client: str) -> None:
    assert forwarded_client(peer, header, PROXIES) == client


@given(peer=st.ip_addresses(v=4).map(str), header=st.text(max_size=80))
def test_without_proxies_the_peer_is_the_client(peer: str, header: str) -> None:
    assert forwarded_client(peer, header, ()) == peer


@given(header=st.text(max_size=80))
def test_the_client_is_the_peer_or_a_forwarded_hop(header: str) -> None:
    client = forwarded_client("10.1.1.1", header, PROXIES)
    assert client == "10.1.1.1" or client in [h.strip() for h in header.split(",")]


STRONG = "Zq8-vT3pL0xW7nKa2R"


def _prod(**kw: object) -> Settings:
    base: dict[str, object] = {
        "env": "production",
        "db_url": SecretStr(f"postgresql://eldercare:{STRONG}@db:5432/eldercare"),
        "mqtt_password": SecretStr(STRONG + "a"),
        "mqtt_ops_password": SecretStr(STRONG + "b"),
    }
    return Settings(_env_file=None, **(base | kw))  # type: ignore[arg-type]


def test_production_starts_with_strong_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ELDERCARE_DB_ADMIN_URL", "ELDERCARE_ENV"):
        monkeypatch.delenv(var, raising=False)
    assert _prod().env == "production"


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"mqtt_password": SecretStr("")}, "ELDERCARE_MQTT_PASSWORD is empty"),
        ({"mqtt_ops_password": SecretStr("changeme")}, "ELDERCARE_MQTT_OPS_PASSWORD"),
        ({"mqtt_password": SecretStr("short-1")}, "shorter than"),
        ({"db_url": SecretStr("postgresql://eldercare:eldercare@db/eldercare")}, "ELDERCARE_DB_URL"),
        ({"db_url": SecretStr("host=db user=eldercare dbname=eldercare")}, "ELDERCARE_DB_URL"),
        ({"db_url": None}, "ELDERCARE_DB_URL is not set"),
        ({"mqtt_password": SecretStr("demo-password-2026")}, "known default"),
        ({"mqtt_password": SecretStr("aaaaaaaaaaaaaaaaaaaa")}, "distinct"),
    ],
)
def test_production_refuses_default_or_weak_secrets(
    monkeypatch: pytest.MonkeyPatch, override: dict[str, object], named: str
) -> None:
    for var in ("ELDERCARE_DB_ADMIN_URL", "ELDERCARE_ENV"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValidationError, match="production refuses default or weak secrets") as info:
        _prod(**override)
    assert named in str(info.value)
    assert STRONG not in str(info.value)  # never the secrets themselves


def test_development_does_not_check_and_typos_are_refused() -> None:
    assert weak_secrets(Settings(_env_file=None, mqtt_password=SecretStr(""))) != []  # would be refused…
    Settings(_env_file=None, env="development", mqtt_password=SecretStr(""))  # …but not in development
    with pytest.raises(ValidationError):
        Settings(_env_file=None, env="prod")


def test_demo_password_is_random_per_stack_and_private(tmp_path: Path) -> None:
    one, fresh = neighbourhood.demo_password(tmp_path / "a")
    again, fresh_again = neighbourhood.demo_password(tmp_path / "a")
    other, _ = neighbourhood.demo_password(tmp_path / "b")
    assert (fresh, fresh_again) == (True, False)
    assert one == again != other
    assert len(one) >= 16
    mode = stat.S_IMODE((tmp_path / "a" / neighbourhood.PASSWORD_FILE).stat().st_mode)
    assert mode == 0o600
    assert not hasattr(neighbourhood, "DEMO_PASSWORD")  # no constant left to print or reuse
