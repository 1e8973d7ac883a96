"""The one place where domain errors become HTTP responses: ``{"code", "message"}``, never a stack trace."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from devices.errors import (
    ConflictError,
    EldercareError,
    NotFoundError,
    PermissionDenied,
    Unavailable,
    ValidationFailed,
)
from web.auth.errors import NotAuthenticated, Throttled

log = logging.getLogger(__name__)

# Most specific first; anything else derived from EldercareError is a 400.
STATUS: tuple[tuple[type[EldercareError], int], ...] = (
    (NotAuthenticated, 401),
    (Throttled, 429),
    (PermissionDenied, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationFailed, 422),
    (Unavailable, 503),
)
_HTTP_CODES = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 415: "unsupported_media_type",
               422: "invalid", 429: "throttled", 503: "unavailable"}  # fmt: skip


def status_for(exc: EldercareError) -> int:
    """HTTP status of a domain error."""
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 400)


def _body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"code": code, "message": message, **extra}


async def _domain(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EldercareError)
    headers = {}
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = "5"
    return JSONResponse(_body(exc.code, exc.message), status_code=status_for(exc), headers=headers)


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()
    ]
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    message = f"{'.'.join(first['loc'])}: {first['msg']}"
    return JSONResponse(_body("invalid", message, details=details), status_code=422)


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return JSONResponse(
        _body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _bad_data(_request: Request, exc: Exception) -> JSONResponse:
    # Input the database cannot store (NUL bytes in text, numbers out of range): the client's fault.
    assert isinstance(exc, psycopg.DataError)
    return JSONResponse(
        _body("invalid", f"invalid value: {exc.diag.message_primary or 'bad data'}"), status_code=422
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(_body("internal", "internal error; it has been logged"), status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers on an app."""
    app.add_exception_handler(EldercareError, _domain)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(psycopg.DataError, _bad_data)
    app.add_exception_handler(Exception, _unexpected)
