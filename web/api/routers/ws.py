"""``/ws/live?after=ID``: replay what the client missed from ``live_event`` (scoped in SQL), then live events.

An open socket re-checks its session and scope every ``REVALIDATE_S`` seconds, busy or idle, and soon after
any plan or task event (a re-plan moves homes between caregivers): a logout, a disabled user, a revoked or
expired token closes it (1008); a changed scope replaces its filter and the client gets ``{"type":
"scope"}`` (reload what it shows). Events queued under the old scope are filtered again before sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import psycopg
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from psycopg import sql
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool

from devices.errors import EldercareError
from web.api import audit
from web.api.deps import bearer_or_cookie
from web.api.live import COLUMNS, Event, Hub, Subscriber, event_json
from web.api.scope import _caregiver_homes, _family_homes, live_scope
from web.auth import sessions
from web.auth.principal import Principal, Role

router = APIRouter()
REPLAY_PAGE = 500
REVALIDATE_S = 2.0  # a socket re-checks its session and scope this often (the promise is: within 5 s)
RECHECK_GAP_S = 0.5  # at most this often when plan/task events keep coming


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == ws.headers.get("host")


def _authenticate(ws: WebSocket) -> Principal:
    token, via_cookie = bearer_or_cookie(ws.headers, ws.cookies)
    if not token or (via_cookie and not _same_origin(ws)):
        raise EldercareError("not authenticated", code="not_authenticated")
    with ws.app.state.pool.connection() as conn:
        return sessions.resolve(conn, access_token=token, now=ws.app.state.clock())


def _scoped_homes(ws: WebSocket, p: Principal) -> frozenset[str]:
    if p.role is Role.FAMILY:
        query = _family_homes(p)
    elif p.role is Role.CAREGIVER:
        query = _caregiver_homes(p)
    else:
        return frozenset()
    with ws.app.state.pool.connection() as conn:
        return frozenset(r[0] for r in conn.execute(query).fetchall())


def _audit_session(ws: WebSocket, p: Principal, homes: frozenset[str], after: int | None) -> None:
    """One audit row for the socket and one for its replay (with the scope), written before any event."""
    ip = ws.client.host if ws.client else None
    with ws.app.state.pool.connection() as conn:
        audit.live_session(conn, p, homes=homes, ip=ip)
        if after is not None:
            audit.live_session(conn, p, homes=homes, ip=ip, replay_after=after)


def accepts(p: Principal, homes: frozenset[str]) -> Callable[[Event], bool]:
    """The in-memory twin of scope.live_scope, for events fanned out by the hub."""
    if p.role is Role.ADMIN:
        return lambda e: True
    if p.role is Role.STAFF:
        stations = frozenset(p.station_ids)
        return lambda e: e["station_id"] in stations
    if p.role is Role.FAMILY:
        return lambda e: e["topic"] == "alert" and e["home_id"] in homes
    cg = p.caregiver_id or ""
    return lambda e: e["home_id"] in homes or (bool(cg) and (e["body"] or {}).get("caregiver_id") == cg)


def _replay_page(ws: WebSocket, p: Principal, after: int) -> list[Event]:
    query = sql.SQL(f"SELECT {COLUMNS} FROM live_event WHERE id > %s AND {{}} ORDER BY id LIMIT %s")
    conn: psycopg.Connection[Any]
    with ws.app.state.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query.format(live_scope(p)), (after, REPLAY_PAGE)).fetchall()


async def _replay(ws: WebSocket, hub: Hub, p: Principal, after: int) -> set[int]:
    sent: set[int] = set()
    while True:
        rows = await run_in_threadpool(_replay_page, ws, p, after)
        for row in rows:
            await ws.send_text(
                json.dumps({"type": "event", **event_json(row, min(row["id"], hub.watermark))})
            )
            sent.add(row["id"])
        if len(rows) < REPLAY_PAGE:
            return sent
        after = rows[-1]["id"]


def _scope_key(p: Principal) -> tuple[object, ...]:
    return (p.id, p.role, p.station_ids, p.resident_ids, p.caregiver_id)


def _current(ws: WebSocket) -> tuple[Principal, frozenset[str]] | None:
    """The session's principal and homes now; None when the session has ended."""
    try:
        principal = _authenticate(ws)
    except EldercareError:
        return None
    return principal, _scoped_homes(ws, principal)


async def _watch(
    ws: WebSocket, hub: Hub, sub: Subscriber, principal: Principal, homes: frozenset[str]
) -> None:
    """Close the socket when the session ends; re-scope it when the user's scope changes."""
    interval = float(getattr(ws.app.state, "live_revalidate_s", REVALIDATE_S))
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sub.recheck.wait(), interval)
        sub.recheck.clear()
        current = await run_in_threadpool(_current, ws)
        if current is None:  # logged out, disabled, revoked or expired
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the client may be gone already
                await ws.close(code=1008, reason="session ended; refresh and reconnect")
            return
        if (_scope_key(current[0]), current[1]) != (_scope_key(principal), homes):
            principal, homes = current
            sub.accepts = accepts(principal, homes)
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait({"type": "scope", "resume_after": hub.watermark, "role": principal.role})
        await asyncio.sleep(RECHECK_GAP_S)


async def _pump(ws: WebSocket, sub: Subscriber, replayed: set[int]) -> None:
    while True:
        event = await sub.queue.get()
        if sub.overflowed:
            await ws.close(code=1013, reason="too slow; reconnect with your last id")
            return
        if event.get("type") == "scope":
            await ws.send_text(json.dumps(event))
            continue
        if event["id"] in replayed:
            replayed.discard(event["id"])
            continue
        if sub.accepts(event):  # queued before a scope change: filtered again
            await ws.send_text(json.dumps({"type": "event", **event}))


async def _until_disconnect(ws: WebSocket) -> None:
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


@router.websocket("/ws/live")
async def live(ws: WebSocket, after: int | None = None) -> None:
    """Stream scoped live events; with ``after`` first replay every later event from the table, in order."""
    try:
        principal = await run_in_threadpool(_authenticate, ws)
    except EldercareError:
        await ws.close(code=1008, reason="not authenticated")
        return
    await ws.accept()
    hub: Hub = ws.app.state.hub
    homes = await run_in_threadpool(_scoped_homes, ws, principal)
    await run_in_threadpool(_audit_session, ws, principal, homes, after)
    sub = hub.subscribe(accepts(principal, homes))
    try:
        await ws.send_text(
            json.dumps({"type": "hello", "resume_after": hub.watermark, "role": principal.role})
        )
        replayed = await _replay(ws, hub, principal, after) if after is not None else set()
        await ws.send_text(json.dumps({"type": "live", "resume_after": hub.watermark}))
        tasks = [
            asyncio.create_task(_pump(ws, sub, replayed)),
            asyncio.create_task(_until_disconnect(ws)),
            asyncio.create_task(_watch(ws, hub, sub, principal, homes)),
        ]
        _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await task
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(sub)
