"""The authenticated user and their scope, as loaded with the session."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    CAREGIVER = "caregiver"
    FAMILY = "family"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: their role, stations (staff, caregivers) and residents (family)."""

    id: int
    username: str
    name: str
    role: Role
    station_ids: tuple[str, ...] = ()
    resident_ids: tuple[str, ...] = ()
    caregiver_id: str | None = None
