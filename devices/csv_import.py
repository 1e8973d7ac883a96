"""Bulk import of stations, homes, residents and devices from CSV: every bad row reported, nothing half-imported."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from devices import registry
from devices.accounts import is_reserved
from devices.errors import EldercareError, ValidationFailed
from devices.types import DEVICE_ID_RE, DeviceKind, Room, TravelMode

Entity = Literal["stations", "homes", "residents", "devices"]
MAX_ROWS = 100_000


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StationRow(_Row):
    id: str = Field(pattern=DEVICE_ID_RE.pattern)
    name: str = Field(min_length=1)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    travel_mode: TravelMode = TravelMode.WALK


class HomeRow(_Row):
    id: str = Field(pattern=DEVICE_ID_RE.pattern)
    station_id: str | None = None
    address: str = Field(min_length=1)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    access_notes: str = ""


class Contact(_Row):
    name: str = Field(min_length=1)
    phone: str = Field(pattern=r"^\+?[0-9 -]{5,20}$")
    relation: str = ""
    consent_notify: bool = False


class ResidentRow(_Row):
    id: str = Field(pattern=DEVICE_ID_RE.pattern)
    home_id: str
    name: str = Field(min_length=1)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    sex: Literal["F", "M"] | None = None
    living_alone: bool = True
    emergency_contacts: list[Contact] = Field(default_factory=list)
    care_notes: str = ""

    @field_validator("emergency_contacts", mode="before")
    @classmethod
    def _json_list(cls, raw: object) -> object:
        if isinstance(raw, str):
            try:
                return json.loads(raw) if raw.strip() else []
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list: {exc.msg}") from None
        return raw


class DeviceCsvRow(_Row):
    id: str = Field(pattern=DEVICE_ID_RE.pattern)
    home_id: str | None = None
    kind: DeviceKind
    room: Room | None = None
    gateway_id: str | None = None
    z2m_friendly_name: str | None = None

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if is_reserved(value):  # registry.add_device refuses it too; here it is reported with the field
            raise ValueError("reserved: names starting with 'svc-' are the platform's own broker accounts")
        return value


_MODELS: dict[str, type[_Row]] = {
    "stations": StationRow, "homes": HomeRow, "residents": ResidentRow, "devices": DeviceCsvRow,
}  # fmt: skip
_INSERT: dict[str, Callable[..., None]] = {
    "stations": registry.add_station, "homes": registry.add_home,
    "residents": registry.add_resident, "devices": registry.add_device,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # line number in the file (the header is line 1)
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ImportReport:
    entity: str
    rows: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)


class ImportFailed(ValidationFailed):
    def __init__(self, report: ImportReport) -> None:
        shown = "\n".join(f"  {e}" for e in report.errors[:50])
        more = f"\n  … and {len(report.errors) - 50} more" if len(report.errors) > 50 else ""
        super().__init__(
            f"{report.entity}: {len(report.errors)} bad row(s) of {report.rows}; nothing imported\n{shown}{more}",
            code="import_failed",
        )
        self.report = report


def _parse(entity: str, text: str, report: ImportReport) -> list[tuple[int, _Row]]:
    model = _MODELS[entity]
    reader = csv.DictReader(io.StringIO(text))
    unknown = set(reader.fieldnames or []) - set(model.model_fields)
    if not reader.fieldnames or unknown:
        allowed = ", ".join(model.model_fields)
        what = f"unknown column(s) {', '.join(sorted(unknown))}" if unknown else "no header"
        raise ValidationFailed(f"{entity}: {what}; columns are: {allowed}", code="bad_header")
    parsed: list[tuple[int, _Row]] = []
    for raw in reader:
        line = reader.line_num
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise ValidationFailed(
                f"{entity}: more than {MAX_ROWS} rows; split the file", code="too_many_rows"
            )
        values: dict[str, Any] = {k: v for k, v in raw.items() if k is not None and v not in (None, "")}
        if None in raw:
            report.errors.append(RowError(line, "-", "more values than columns"))
            continue
        try:
            parsed.append((line, model.model_validate(values)))
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "-"
                report.errors.append(RowError(line, where, err["msg"]))
    return parsed


def import_csv(conn: psycopg.Connection, *, entity: Entity, text: str) -> ImportReport:
    """Validate every row, then insert all of them in one transaction, or none.

    Raises:
        ImportFailed: some rows are invalid or conflict with the registry; its report lists each one.
        ValidationFailed: the file itself is unusable (header, size).
    """
    if entity not in _MODELS:
        raise ValidationFailed(f"unknown entity {entity!r}; one of {', '.join(_MODELS)}", code="bad_entity")
    report = ImportReport(entity)
    parsed = _parse(entity, text, report)
    with conn.transaction() as tx:
        for line, row in parsed:
            try:
                _INSERT[entity](conn, **row.model_dump(mode="json" if entity == "residents" else "python"))
            except EldercareError as exc:
                report.errors.append(RowError(line, "id", str(exc)))
        if report.errors:
            report.errors.sort(key=lambda e: e.line)
            raise psycopg.Rollback(tx)
    if report.errors:
        raise ImportFailed(report)
    report.imported = len(parsed)
    return report
