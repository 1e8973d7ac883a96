"""What the engine knows about a home (devices, timezone) and the resident's validated rule settings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any, Literal, NamedTuple, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from devices.errors import ValidationFailed
from devices.types import DeviceKind, Room
from monitor.rules.kinds import LIFE_SAFETY_KINDS, AlertKind

MAX_PERIOD = timedelta(days=366)
MAX_PERIODS = 100


class RuleConfigError(ValidationFailed):
    """Rule configuration was refused; ``errors`` lists ``(field, reason)`` pairs."""

    code = "invalid_rule_config"

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("invalid rule configuration: " + "; ".join(f"{f}: {r}" for f, r in errors))


class DeviceInfo(NamedTuple):
    """A device as the engine sees it: its kind, its room and the gateway that bridges it (if any)."""

    kind: DeviceKind
    room: Room
    gateway_id: str | None = None


class HomeContext(BaseModel):
    """A home: its resident (None when nobody is registered), devices, timezone and a home-level away flag."""

    model_config = ConfigDict(frozen=True)

    home_id: str | int
    resident_id: str | int | None = None
    devices: Mapping[str, DeviceInfo] = Field(default_factory=dict)
    timezone: str = "Asia/Shanghai"
    away: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def device(self, device_id: str, kind: DeviceKind) -> DeviceInfo:
        """The registered device, or one of the reading's kind in an unknown room."""
        return self.devices.get(device_id) or DeviceInfo(kind, Room.OTHER, None)

    def room_of(self, device_id: str) -> str:
        """The device's room name ("other" when unregistered)."""
        info = self.devices.get(device_id)
        return info.room.value if info is not None else Room.OTHER.value

    def has(self, kind: DeviceKind, room: Room | None = None) -> bool:
        """Whether the home has a device of this kind (in this room)."""
        return any(d.kind == kind and (room is None or d.room == room) for d in self.devices.values())


class Window(BaseModel):
    """A daily local-time window; it may wrap midnight (22:00-07:00)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def contains(self, local: datetime) -> bool:
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def end_after(self, local: datetime) -> datetime:
        """The first end of this window after ``local`` (timezone of ``local``)."""
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        return end if end > local else end + timedelta(days=1)


class Period(BaseModel):
    """A stretch of time the resident is away (travel, family) or in hospital; ``start`` < ``end``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    reason: Literal["away", "hospital"] = "away"

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_PERIOD:
            raise ValueError(f"a period lasts at most {MAX_PERIOD.days} days")
        return self

    def contains(self, now: datetime) -> bool:
        return self.start <= now < self.end


class TemperatureRange(BaseModel):
    """Safe indoor temperature; outside it for ``duration_min`` raises indoor cold or heat."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_c: float = Field(default=16.0, ge=0, le=25)
    max_c: float = Field(default=30.0, ge=20, le=40)
    duration_min: float = Field(default=5.0, ge=1, le=120)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_c - self.min_c < 4:
            raise ValueError("max_c must be at least 4 degrees above min_c")
        return self


class RuleOverride(BaseModel):
    """Per-rule override: switch a rule off, fix its threshold, or scale its sensitivity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    threshold_min: float | None = Field(default=None, gt=0, le=7 * 1440)
    sensitivity: float | None = Field(default=None, ge=0.5, le=2.0)


class ResidentSettings(BaseModel):
    """A resident's rule settings, validated when saved (see ``validate_settings``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensitivity: float = Field(default=1.0, ge=0.5, le=2.0)
    quiet_hours: Window | None = Window(start=time(22, 0), end=time(7, 0))
    night: Window = Window(start=time(22, 0), end=time(6, 0))
    away: bool = False
    hospital: bool = False
    away_periods: list[Period] = Field(default_factory=list, max_length=MAX_PERIODS)
    temperature: TemperatureRange = TemperatureRange()
    rules: dict[AlertKind, RuleOverride] = Field(default_factory=dict)
    device_timeout_min: dict[DeviceKind, float] = Field(default_factory=dict)

    @field_validator("rules")
    @classmethod
    def _safety_rules_stay_on(cls, value: dict[AlertKind, RuleOverride]) -> dict[AlertKind, RuleOverride]:
        for kind, override in value.items():
            if kind in LIFE_SAFETY_KINDS and not override.enabled:
                raise ValueError(f"the {kind.value} rule cannot be disabled")
        return value

    @field_validator("device_timeout_min")
    @classmethod
    def _sane_timeouts(cls, value: dict[DeviceKind, float]) -> dict[DeviceKind, float]:
        for kind, minutes in value.items():
            if not 2 <= minutes <= 7 * 1440:
                raise ValueError(f"timeout for {kind.value} must be between 2 and 10080 minutes")
        return value

    @property
    def suppress_routine(self) -> bool:
        """Away or in hospital by the flags alone (``away_at`` also reads the periods)."""
        return self.away or self.hospital

    def away_at(self, now: datetime) -> bool:
        """Whether routine alarms are suppressed at ``now``: a flag is set or a period holds it."""
        return self.away or self.hospital or any(p.contains(now) for p in self.away_periods)

    def back_since(self, now: datetime) -> datetime | None:
        """The end of the latest away period over by ``now`` (routine timers restart there), if any."""
        return max((p.end for p in self.away_periods if p.end <= now), default=None)

    def enabled(self, kind: AlertKind) -> bool:
        override = self.rules.get(kind)
        return override is None or override.enabled

    def limit_min(self, kind: AlertKind, base_min: float) -> float:
        """A threshold in minutes: the override's, else ``base_min`` scaled by sensitivity."""
        override = self.rules.get(kind)
        if override is not None and override.threshold_min is not None:
            return override.threshold_min
        sens = override.sensitivity if override is not None and override.sensitivity else self.sensitivity
        return base_min / sens


def validate_settings(data: Mapping[str, Any]) -> ResidentSettings:
    """Validate rule configuration as saved by a user or an API.

    Args:
        data: the raw settings (JSON-like mapping).

    Returns:
        The validated, immutable settings.

    Raises:
        RuleConfigError: naming every offending field and the reason.
    """
    try:
        return ResidentSettings.model_validate(dict(data))
    except ValidationError as exc:
        errors = [
            (".".join(str(p) for p in e["loc"] if p != "[key]") or "settings", e["msg"]) for e in exc.errors()
        ]
        raise RuleConfigError(errors) from None
