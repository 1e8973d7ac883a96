"""Row scope as SQL conditions: every query that returns homes, residents or their data ANDs one of these in.

Admins see everything; staff their stations' homes; caregivers the homes of their own tasks today (plus
their station); family members their relative's home and record only.

Writes check both sides: the row named in the request (path and body) and, when the id already exists, the
row as it is stored — a row of another station answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from web.auth.principal import Principal, Role

TRUE = sql.SQL("TRUE")
FALSE = sql.SQL("FALSE")

# Homes a caregiver visits today (local day): visits in the current version of today's plans, and tasks
# they checked in on. Scope ends with the day, and a re-plan that moves a visit away takes the home with it.
CAREGIVER_HOMES = sql.SQL(
    """SELECT t.home_id FROM task t
       WHERE t.day = (now() AT TIME ZONE 'Asia/Shanghai')::date AND t.status <> 'cancelled'
         AND (t.id IN (SELECT v.task_id FROM visit v JOIN plan p ON p.id = v.plan_id
                       WHERE v.caregiver_id = (SELECT caregiver_id FROM app_user WHERE id = {uid})
                         AND p.day = t.day
                         AND p.version = (SELECT max(version) FROM plan q
                                          WHERE q.station_id = p.station_id AND q.day = p.day))
              OR t.id IN (SELECT a.task_id FROM visit_action a
                          WHERE a.caregiver_id = (SELECT caregiver_id FROM app_user WHERE id = {uid})))"""
)


def _uid(p: Principal) -> sql.Composable:
    return sql.Literal(p.id)


def _my_stations(p: Principal) -> sql.Composable:
    return sql.SQL("SELECT station_id FROM user_station WHERE user_id = {}").format(_uid(p))


def _family_homes(p: Principal) -> sql.Composable:
    return sql.SQL(
        "SELECT r.home_id FROM user_resident ur JOIN resident r ON r.id = ur.resident_id WHERE ur.user_id = {}"
    ).format(_uid(p))


def _caregiver_homes(p: Principal) -> sql.Composable:
    return CAREGIVER_HOMES.format(uid=_uid(p))


def station_scope(p: Principal, alias: str = "s") -> sql.Composable:
    """Condition on a ``station`` row: admins all, staff and caregivers their own, family none."""
    if p.role is Role.ADMIN:
        return TRUE
    if p.role is Role.FAMILY:
        return FALSE
    return sql.SQL("{}.id IN ({})").format(sql.Identifier(alias), _my_stations(p))


def home_scope(p: Principal, alias: str = "h") -> sql.Composable:
    """Condition on a ``home`` row (needs its ``id`` and ``station_id``)."""
    a = sql.Identifier(alias)
    if p.role is Role.ADMIN:
        return TRUE
    if p.role is Role.STAFF:
        return sql.SQL("{}.station_id IN ({})").format(a, _my_stations(p))
    if p.role is Role.FAMILY:
        return sql.SQL("{}.id IN ({})").format(a, _family_homes(p))
    return sql.SQL("{}.id IN ({})").format(a, _caregiver_homes(p))


def resident_scope(p: Principal, alias: str = "r", home_alias: str = "h") -> sql.Composable:
    """Condition on a ``resident`` row joined to its ``home`` (aliases ``r`` and ``h`` by default)."""
    if p.role is Role.FAMILY:
        return sql.SQL("{}.id IN (SELECT resident_id FROM user_resident WHERE user_id = {})").format(
            sql.Identifier(alias), _uid(p)
        )
    return home_scope(p, home_alias)


def live_scope(p: Principal) -> sql.Composable:
    """Condition on a ``live_event`` row (its ``station_id`` / ``home_id`` columns)."""
    if p.role is Role.ADMIN:
        return TRUE
    if p.role is Role.STAFF:
        return sql.SQL("station_id IN ({})").format(_my_stations(p))
    if p.role is Role.FAMILY:
        return sql.SQL("(topic = 'alert' AND home_id IN ({}))").format(_family_homes(p))
    return sql.SQL("(home_id IN ({}) OR body->>'caregiver_id' = {})").format(
        _caregiver_homes(p), sql.Literal(p.caregiver_id or "")
    )


def in_station_scope(conn: psycopg.Connection[Any], p: Principal, station_id: str | None) -> bool:
    """Whether a stored row's station (None: a row of no station, admins only) is in the caller's scope."""
    if station_id is None:
        return p.role is Role.ADMIN
    query = sql.SQL("SELECT 1 FROM station s WHERE s.id = %s AND {}").format(station_scope(p))
    return conn.execute(query, (station_id,)).fetchone() is not None
