"""Demo caregivers (with phone logins) and residents' service plans, derived deterministically from ids."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

import psycopg

from devices.errors import ConflictError
from dispatcher.generate import add_service_plan
from dispatcher.records import CaregiverSpec, ShiftSpec, upsert_caregiver
from web.auth.principal import Role
from web.auth.users import create_user, set_password

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗"
DAY = [ShiftSpec(start="08:00", end="17:00")]
SPLIT = [ShiftSpec(start="07:00", end="11:30"), ShiftSpec(start="14:00", end="19:00")]
LATE = [ShiftSpec(start="12:00", end="21:00")]
NIGHT = [ShiftSpec(start="00:00", end="08:00"), ShiftSpec(start="20:00", end="23:59")]
# (skills, sex, shifts) of a station's caregivers; every station also has one on nights for emergencies
ROSTER: tuple[tuple[list[str], str, list[ShiftSpec]], ...] = (
    (["meals", "cleaning"], "female", DAY),
    (["bathing", "nursing"], "female", DAY),
    (["bathing", "nursing"], "male", DAY),
    (["escort", "meals"], "male", SPLIT),
    (["dementia", "nursing", "meals"], "female", SPLIT),
    (["cleaning", "meals"], "female", LATE),
    (["bathing", "meals"], "female", LATE),
    (["nursing", "escort"], "male", NIGHT),
)


def _pick(key: str, n: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % n


def caregivers(
    conn: psycopg.Connection[Any], station_ids: list[str], password: str, *, reset: bool = False
) -> list[str]:
    """A roster per station and a caregiver login for each (username = caregiver id); returns the ids.

    ``reset``: existing logins get ``password`` too (a new stack password replaces an older one).
    """
    ids: list[str] = []
    for station_id in station_ids:
        short = station_id.removeprefix("st-")
        for i, (skills, sex, shifts) in enumerate(ROSTER):
            cg = f"cg-{short}-{i + 1}"
            name = f"{SURNAMES[_pick(cg, len(SURNAMES))]}护理员{i + 1}"
            mode = "ebike" if i % 3 == 0 else "walk"
            upsert_caregiver(conn, CaregiverSpec(id=cg, station_id=station_id, name=name, sex=sex, skills=skills,
                                                 travel_mode=mode, shifts=shifts, languages=["zh", "cq"]))  # fmt: skip
            conn.commit()
            try:
                create_user(conn, username=cg, name=name, role=Role.CAREGIVER, password=password,
                            station_ids=[station_id], caregiver_id=cg)  # fmt: skip
                conn.commit()
            except ConflictError:
                conn.rollback()
                if reset:
                    set_password(conn, cg, password)
            ids.append(cg)
    return ids


def service_plans(conn: psycopg.Connection[Any], day: date) -> int:
    """Give every resident at home the services an assessment would (deterministic by id); returns how many."""
    rows = conn.execute(
        "SELECT r.id, r.sex FROM resident r JOIN home h ON h.id = r.home_id WHERE h.station_id IS NOT NULL"
        " ORDER BY r.id"
    ).fetchall()
    start = day.isoformat()
    added = 0
    for resident_id, sex in rows:
        roll = _pick(resident_id, 100)
        plans: dict[str, dict[str, Any]] = {}
        if roll < 40:  # 助餐: lunch delivered daily
            plans["meal"] = {"recurrence": "daily", "kind": "meal", "duration": 15, "skills": ["meals"],
                             "window": {"start": "10:45", "end": "13:00"}}  # fmt: skip
        plans["visit"] = {"recurrence": "every_n_days", "every_days": 3, "kind": "visit", "duration": 30,
                          "window": {"start": "09:00", "end": "17:00"}, "priority": 2}  # fmt: skip
        if roll % 5 == 0:  # 助浴: weekly bath, same-sex carer, two carers with a hoist for some
            plans["bath"] = {"recurrence": "weekly", "weekdays": [roll % 7], "kind": "bathing", "duration": 45,
                             "skills": ["bathing"], "same_sex": sex is not None, "carers": 2 if roll % 10 == 0 else 1,
                             "window": {"start": "09:00", "end": "16:00"}, "priority": 4}  # fmt: skip
        if roll % 4 == 1:  # 助洁: weekly cleaning
            plans["clean"] = {"recurrence": "weekly", "weekdays": [(roll + 3) % 7], "kind": "cleaning",
                              "duration": 60, "skills": ["cleaning"], "window": {"start": "13:00", "end": "18:00"}}  # fmt: skip
        for name, spec in plans.items():  # visits every 3 days start on staggered days: a third fall today
            begin = (day - timedelta(days=roll % 3)).isoformat() if name == "visit" else start
            add_service_plan(conn, f"sp-{resident_id}-{name}", resident_id, {"start": begin, **spec})
            added += 1
    conn.commit()
    return added
