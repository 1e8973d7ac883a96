"""Broker account names the platform keeps for itself, and the one check that keeps everyone else off them.

A device's or gateway's id is its broker username, and the broker's password file holds the platform's own
accounts in the same namespace. Were a station user able to register a device called ``svc-ops``, its
provisioned password would read every home's events (or lock ingest off the broker). So every name starting
with :data:`RESERVED_PREFIX` is the platform's, and nothing else may take one: not a device, not a gateway,
not a user (a login name that looks like a service account invites mistakes in audits and support).
"""

from __future__ import annotations

import unicodedata

from devices.errors import ValidationFailed

RESERVED_PREFIX = "svc-"

INGEST_ACCOUNT = "svc-ingest"  # ingest and rules (each with its own client id)
OPS_ACCOUNT = "svc-ops"  # operations, tests, benches: reads and writes everything
BRIDGE_ACCOUNT = "svc-bridge"  # edge brokers' bridges to the core
RELOAD_CANARY = "svc-reload-canary"  # one-off password per provisioning sync, proves the broker reloaded
PLATFORM_ACCOUNTS = frozenset({INGEST_ACCOUNT, OPS_ACCOUNT, BRIDGE_ACCOUNT, RELOAD_CANARY})


class ReservedName(ValidationFailed):
    """A device, gateway or user name that is (or could become) a platform broker account."""

    code = "reserved_name"


def _folded(name: str) -> str:
    """Compatibility-folded, case-folded and stripped, so ``ＳＶＣ-ops`` or `` Svc-Ops`` count as ``svc-ops``."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def is_reserved(name: str) -> bool:
    """True when ``name`` is a platform account or starts with the reserved prefix."""
    folded = _folded(name)
    return folded.startswith(RESERVED_PREFIX) or folded in PLATFORM_ACCOUNTS


def check_not_reserved(name: str, *, what: str) -> None:
    """Refuse a name the platform keeps for its broker accounts.

    Args:
        name: the proposed device id, gateway id or username.
        what: what the name is for, for the message ("device id", "username").

    Raises:
        ReservedName: the name starts with ``svc-`` (in any case or width) or is a platform account.
    """
    if is_reserved(name):
        raise ReservedName(
            f"{what} {name!r} is reserved: names starting with {RESERVED_PREFIX!r} are the platform's own "
            "broker accounts / 以 svc- 开头的名称为平台保留账号"
        )
