"""What the rules process keeps per home, loaded from the registry and the rule tables, and saving its state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from devices.types import DeviceKind, Room
from monitor.rules.baseline import Baseline
from monitor.rules.context import (
    DeviceInfo,
    HomeContext,
    ResidentSettings,
    RuleConfigError,
    validate_settings,
)
from monitor.rules.state import HomeState
from monitor.runner.partition import Partition


@dataclass
class HomeRules:
    ctx: HomeContext
    station_id: str | None
    settings: ResidentSettings
    baseline: Baseline
    state: HomeState = field(default_factory=HomeState)
    dirty: bool = False
    evaluated_at: datetime | None = None  # when the rules last ran on a reading (runner.triage)


def _room(value: str | None) -> Room:
    try:
        return Room(value or "other")
    except ValueError:
        return Room.OTHER


def _devices(conn: psycopg.Connection) -> dict[str, dict[str, DeviceInfo]]:
    by_home: dict[str, dict[str, DeviceInfo]] = {}
    rows = conn.execute(
        "SELECT id, home_id, kind, room, gateway_id FROM device WHERE home_id IS NOT NULL AND status <> 'revoked'"
    ).fetchall()
    for device_id, home_id, kind, room, gateway_id in rows:
        try:
            dk = DeviceKind(kind)
        except ValueError:
            continue
        by_home.setdefault(home_id, {})[device_id] = DeviceInfo(dk, _room(room), gateway_id)
    return by_home


def _settings(raw: Any, home_id: str, log_bad: list[str]) -> ResidentSettings:
    try:
        return validate_settings(raw or {})
    except RuleConfigError as exc:  # saved before validation existed, or edited by hand: use defaults, say so
        log_bad.append(f"{home_id}: {exc.message}")
        return ResidentSettings()


def load(
    conn: psycopg.Connection,
    known: dict[str, HomeRules] | None = None,
    *,
    partition: Partition | None = None,
) -> tuple[dict[str, HomeRules], list[str]]:
    """Every home (of ``partition``) with its context, settings and baseline; keeps the in-memory state of
    homes in ``known``.

    Returns:
        The homes by id, and warnings (settings that failed validation and were replaced by defaults).
    """
    devices = _devices(conn)
    rows = conn.execute(
        "SELECT h.id, h.station_id, r.id, r.presence, s.settings, b.baseline, st.state "
        "FROM home h "
        "LEFT JOIN LATERAL (SELECT id, presence FROM resident WHERE home_id = h.id ORDER BY id LIMIT 1) r ON true "
        "LEFT JOIN resident_rule_settings s ON s.resident_id = r.id "
        "LEFT JOIN resident_baseline b ON b.resident_id = r.id "
        "LEFT JOIN rule_state st ON st.home_id = h.id"
    ).fetchall()
    conn.commit()
    homes: dict[str, HomeRules] = {}
    warnings: list[str] = []
    for home_id, station_id, resident_id, presence, settings, baseline, state in rows:
        if partition is not None and not partition.owns(home_id):
            continue
        ctx = HomeContext(
            home_id=home_id, resident_id=resident_id, devices=devices.get(home_id, {}),
            away=presence is not None and presence != "home",
        )  # fmt: skip
        previous = (known or {}).get(home_id)
        if previous is not None:
            current = previous.state
        else:
            current = HomeState.from_json(_text(state)) if state is not None else HomeState()
        homes[home_id] = HomeRules(
            ctx=ctx,
            station_id=station_id,
            settings=_settings(settings, home_id, warnings),
            baseline=Baseline.from_json(_text(baseline)) if baseline is not None else Baseline(),
            state=current,
            dirty=previous.dirty if previous is not None else False,
        )
    return homes, warnings


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def snapshot(homes: dict[str, HomeRules], ids: list[str] | None = None) -> list[tuple[str, str]]:
    """The JSON state of every home (of ``ids``) changed since its last snapshot; marks them clean."""
    out = []
    for home_id in homes if ids is None else ids:
        home = homes.get(home_id)
        if home is not None and home.dirty:
            out.append((home_id, home.state.to_json()))
            home.dirty = False
    return out


def save_states(conn: psycopg.Connection, states: list[tuple[str, str]]) -> None:
    """Upsert home states (from ``snapshot``) in one statement, inside the caller's transaction.

    The states travel as one JSON object text (home id -> state): a text array of JSON documents would
    be escaped character by character in Python by the array dumper, most of this thread's time.
    """
    if states:
        doc = "{" + ",".join(f"{json.dumps(h)}:{js}" for h, js in states) + "}"
        conn.execute(
            "INSERT INTO rule_state (home_id, state, updated_at) "
            "SELECT key, value, now() FROM jsonb_each(%s::jsonb) "
            "ON CONFLICT (home_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            (doc,),
        )
