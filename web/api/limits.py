"""ASGI middleware in front of the routes: a request-body size limit and trusted reverse-proxy addresses.

Body limit: login (argon2) and every JSON endpoint would otherwise read whatever a client sends. A declared
``Content-Length`` above the limit is refused with 413 before anything is read; a chunked body is counted
as it arrives and cut off with 413 when it passes the limit.

Proxies: the peer address is the client unless the peer is one of ``ELDERCARE_TRUSTED_PROXIES``; only then
is ``X-Forwarded-For`` believed, read from the right and skipping trusted hops, so a client cannot choose
its own address by sending the header (login throttling and the audit log key on it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Network = IPv4Network | IPv6Network


class _TooLarge(StarletteHTTPException):
    """Raised from ``receive``: an HTTPException, so FastAPI's body reader passes it on untouched."""

    def __init__(self) -> None:
        super().__init__(413, "request body too large")


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(
        {"code": "payload_too_large", "message": f"request body larger than {limit} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for request bodies larger than ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _send_413(send, self.max_bytes)
            return
        seen = 0
        over = started = False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if over:  # whatever the app makes of the exception, the client gets our 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _send_413(send, self.max_bytes)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _send_413(send, self.max_bytes)


def forwarded_client(peer: str, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """The client address: the peer, or, when the peer is a trusted proxy, the nearest untrusted hop."""
    if not proxies or forwarded_for is None or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _valid(hop):
            return peer  # a forged or garbled header: fall back to what we know
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def _valid(address: str) -> bool:
    try:
        ip_address(address)
    except ValueError:
        return False
    return True


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


class TrustedProxies:
    """Rewrites ``scope['client']`` from ``X-Forwarded-For`` when the peer is a configured proxy."""

    def __init__(self, app: ASGIApp, proxies: Sequence[Network]) -> None:
        self.app = app
        self.proxies = tuple(proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.proxies and scope["type"] in ("http", "websocket") and scope.get("client"):
            peer, port = scope["client"]
            header = dict(scope.get("headers") or []).get(b"x-forwarded-for")
            client = forwarded_client(peer, header.decode("latin-1") if header else None, self.proxies)
            if client != peer:
                scope = {**scope, "client": (client, port)}
        await self.app(scope, receive, send)


def install(app: Any, *, max_body_bytes: int, proxies: Sequence[Network]) -> None:
    """Add both to a Starlette/FastAPI app (the proxy rewrite runs first)."""
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(TrustedProxies, proxies=proxies)
