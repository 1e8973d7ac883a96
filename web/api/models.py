"""Request and response schemas (the ``X / XCreate / XRead`` ladder)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from devices.types import DeviceKind, Room, TravelMode
from web.auth.principal import Role

Id = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """Every error response."""

    code: str
    message: str


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class MeRead(BaseModel):
    id: int
    username: str
    name: str
    role: Role
    station_ids: list[str]
    resident_ids: list[str]
    caregiver_id: str | None


class LoginRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    user: MeRead


class StationCreate(_In):
    id: str = Id
    name: str = Field(min_length=1, max_length=200)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    travel_mode: TravelMode = TravelMode.WALK


class StationRead(BaseModel):
    id: str
    name: str
    lat: float
    lon: float
    travel_mode: str


class HomeCreate(_In):
    id: str = Id
    station_id: str = Id
    address: str = Field(min_length=1, max_length=300)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    access_notes: str = Field(default="", max_length=1000)


class HomeRead(BaseModel):
    id: str
    station_id: str | None
    address: str
    lat: float
    lon: float
    access_notes: str


class ResidentCreate(_In):
    id: str = Id
    home_id: str = Id
    name: str = Field(min_length=1, max_length=100)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    sex: str | None = Field(default=None, pattern="^[FM]$")
    living_alone: bool = True
    emergency_contacts: list[dict[str, str]] = Field(default_factory=list, max_length=10)
    care_notes: str = Field(default="", max_length=2000)


class ResidentBrief(BaseModel):
    """The minimum a caregiver or a family member sees."""

    id: str
    home_id: str
    name: str
    address: str
    access_notes: str
    care_notes: str


class ResidentRead(ResidentBrief):
    station_id: str | None
    birth_year: int | None
    sex: str | None
    living_alone: bool
    emergency_contacts: list[dict[str, Any]]
    presence: str


class HomeDetail(HomeRead):
    residents: list[ResidentRead]
    devices: int
    devices_with_problems: int


class DeviceCreate(_In):
    id: str = Field(min_length=3, max_length=64)
    home_id: str = Id
    kind: DeviceKind
    room: Room | None = None
    gateway_id: str | None = None
    z2m_friendly_name: str | None = Field(default=None, max_length=100)


class DeviceRead(BaseModel):
    id: str
    home_id: str | None
    kind: str
    room: str | None
    gateway_id: str | None
    z2m_friendly_name: str | None
    status: str
    provisioned_at: datetime | None
    last_seen: datetime | None
    reported_status: str | None
    battery: float | None
    battery_low: bool | None


class CredentialsRead(BaseModel):
    device_id: str
    username: str
    password: str


class HealthRead(BaseModel):
    device_id: str
    home_id: str | None
    kind: str
    room: str | None
    last_seen: datetime | None
    reported_status: str | None
    battery: float | None
    battery_low: bool | None
    problem: str | None


class SeriesPoint(BaseModel):
    t: datetime
    events: int
    true_count: int
    avg: float | None
    min: float | None
    max: float | None


class Series(BaseModel):
    home_id: str
    metric: str
    bucket_minutes: int
    room: str | None
    device_id: str | None
    points: list[SeriesPoint]


class MapHome(BaseModel):
    id: str
    station_id: str | None
    lat: float
    lon: float
    status: str


class UserCreate(_In):
    username: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    role: Role
    password: str = Field(min_length=10, max_length=256)
    station_ids: list[str] = Field(default_factory=list, max_length=50)
    resident_ids: list[str] = Field(default_factory=list, max_length=20)
    caregiver_id: str | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries for error statuses, all with the Problem body."""
    return {status: {"model": Problem} for status in statuses}
