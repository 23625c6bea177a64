"""Error answers of the management API: `{"error": {"code": ..., "message": ...}}`, as ARM.

Invalid and request-validation failures are 400 (FastAPI's 422 is folded into 400), NotFound
404, Conflict 409; missing or bad credentials 401 with a Basic challenge, lack of a role 403,
too many failed sign-ins 429 with Retry-After. An upstream registry's failure (imports) is
400 when refused by policy or credentials, 404 when it lacks the content, 503 when it rate
limits, 502 otherwise, its code the error's class name (UpstreamUnauthorized, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from portside.api.errors import DATABASE_RETRY_AFTER
from portside.api.management.models import ErrorBody
from portside.auth.errors import Denied, Throttled, Unauthorized
from portside.logs import bounded, printable
from portside.metadata.errors import DatabaseUnavailable
from portside.services.imports.errors import (
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRefused,
    UpstreamUnauthorized,
)
from portside.services.management.errors import Conflict, Invalid, ManagementError, NotFound

__all__ = [
    "CHALLENGE",
    "ERROR_RESPONSES",
    "REALM",
    "database_lost_response",
    "error_response",
    "exception_handlers",
    "throttled_response",
]

REALM = "portside-management"
CHALLENGE = {"WWW-Authenticate": f'Basic realm="{REALM}"'}

_STATUS: Mapping[type[ManagementError], int] = {Invalid: 400, NotFound: 404, Conflict: 409}
_HTTP_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "AuthorizationFailed",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    429: "TooManyRequests",
}
_MAX_VALIDATION_ERRORS = 5

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Invalid request"),
        (401, "Missing or bad credentials"),
        (403, "Not allowed"),
        (404, "Not found"),
        (409, "Conflict"),
        (429, "Too many failed sign-ins"),
    )
}
"""The error answers every route may give, for the OpenAPI document."""

log = logging.getLogger("portside.api")

Handler = Callable[[Request, Exception], Awaitable[Response]]


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An error answer in the management API's shape."""
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


async def _management(request: Request, error: Exception) -> Response:
    assert isinstance(error, ManagementError)
    status = next((s for kind, s in _STATUS.items() if isinstance(error, kind)), 400)
    return error_response(status, error.code, error.message)


async def _upstream(request: Request, error: Exception) -> Response:
    # Never 401 or 403: those say the caller's own credentials for this API are wrong.
    assert isinstance(error, UpstreamError)
    status = 502
    if isinstance(error, UpstreamRefused | UpstreamUnauthorized):
        status = 400
    elif isinstance(error, UpstreamNotFound):
        status = 404
    elif isinstance(error, UpstreamRateLimited):
        status = 503
    return error_response(status, type(error).__name__, error.message)


async def _unauthorized(request: Request, error: Exception) -> Response:
    assert isinstance(error, Unauthorized)
    return error_response(401, "Unauthorized", error.message, CHALLENGE)


async def _denied(request: Request, error: Exception) -> Response:
    assert isinstance(error, Denied)
    return error_response(403, "AuthorizationFailed", error.message)


async def _throttled(request: Request, error: Exception) -> Response:
    assert isinstance(error, Throttled)
    return throttled_response(error)


def throttled_response(error: Throttled) -> Response:
    """429 with `Retry-After`, for a caller locked out after failed sign-ins."""
    return error_response(
        429, "TooManyRequests", error.message, {"Retry-After": str(error.retry_after)}
    )


async def _database_lost(request: Request, error: Exception) -> Response:
    return database_lost_response(request.url.path, error)


def database_lost_response(path: str, error: Exception) -> Response:
    """503 ServiceUnavailable with Retry-After for a lost database, logged as one line: as on
    /v2 (api/errors.py), a lost database is a state of the deployment, not a bug."""
    log.error(
        "database unavailable in %s: %s",
        bounded(printable(path)),
        bounded(printable(str(error))),
    )
    return error_response(
        503,
        "ServiceUnavailable",
        "the registry's database is unavailable, retry later",
        {"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


async def _validation(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = []
    for item in list(error.errors())[:_MAX_VALIDATION_ERRORS]:
        where = ".".join(str(part) for part in item.get("loc", ()))
        problems.append(f"{where}: {item.get('msg', 'invalid')}" if where else item.get("msg"))
    message = "; ".join(str(p) for p in problems) or "invalid request"
    return error_response(400, "InvalidRequestContent", message)


async def _http(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = _HTTP_CODES.get(error.status_code, "HttpError")
    headers = dict(error.headers or {})
    if error.status_code == 401:
        headers.update(CHALLENGE)
    return error_response(error.status_code, code, str(error.detail), headers)


def exception_handlers() -> dict[type[Exception], Handler]:
    """The management app's exception handlers, by exception class."""
    return {
        ManagementError: _management,
        UpstreamError: _upstream,
        Unauthorized: _unauthorized,
        Denied: _denied,
        Throttled: _throttled,
        RequestValidationError: _validation,
        HTTPException: _http,
        DatabaseUnavailable: _database_lost,
    }
