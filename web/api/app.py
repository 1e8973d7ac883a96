"""The FastAPI application factory: pool and live hub in the lifespan, routers, error mapping, the UI."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import ConnectionPool

from web.api import errors, limits, live
from web.api.routers import (
    admin,
    alerts,
    assessments,
    auth,
    devices,
    homes,
    ops,
    reports,
    residents,
    services,
    stations,
    tasks,
    ws,
)
from web.settings import Settings

UI_DIR = Path(__file__).resolve().parent.parent / "ui"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    cookie_secure: bool | None = None,
    live_gap_timeout: float = 5.0,
    clock: Callable[[], datetime] = _utcnow,
) -> FastAPI:
    """Build the API for these settings.

    Args:
        settings: validated platform settings (database, broker, environment).
        cookie_secure: send cookies only over HTTPS; defaults to on outside development.
        live_gap_timeout: seconds a missing live-event id may stay uncommitted before it is skipped.
        clock: the time source (tests may fix it).

    Returns:
        The FastAPI app; its lifespan opens the connection pool and the LISTEN connection.
    """
    db = settings.db()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = ConnectionPool(
            db.conninfo(), min_size=1, max_size=db.pool_max, kwargs={"autocommit": True}, open=False
        )
        await asyncio.to_thread(pool.open, True, 15.0)
        hub = live.Hub(db.conninfo(), gap_timeout=live_gap_timeout)
        task = await live.start(hub)
        app.state.pool, app.state.hub = pool, hub
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(pool.close)

    app = FastAPI(
        title="Eldercare API",
        version="1",
        lifespan=lifespan,
        description="Stations, homes, residents, devices, readings, alerts and the live feed; scoped by role.",
        docs_url=None,  # Swagger UI would load from a CDN; the schema itself is at /openapi.json
        redoc_url=None,
    )
    _security_headers(app)
    limits.install(app, max_body_bytes=settings.max_body_bytes, proxies=settings.proxies())
    app.state.settings = settings
    app.state.clock = clock
    app.state.cookie_secure = settings.env != "development" if cookie_secure is None else cookie_secure
    errors.install(app)
    for router in (auth, stations, homes, residents, devices, reports, admin, alerts, tasks, services):
        app.include_router(router.router, prefix="/api")
    app.include_router(assessments.router, prefix="/api")
    app.include_router(ws.router)
    app.include_router(ops.router)
    _mount_ui(app)
    return app


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def add_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def _mount_ui(app: FastAPI) -> None:
    static = UI_DIR / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(static / "index.html")

    @app.get("/m", include_in_schema=False)
    def mobile() -> FileResponse:
        return FileResponse(static / "mobile.html")

    @app.get("/sw.js", include_in_schema=False)
    def service_worker() -> FileResponse:
        return FileResponse(
            static / "sw.js", media_type="text/javascript", headers={"Service-Worker-Allowed": "/"}
        )
