"""The one table mapping every domain error to an HTTP status and an OCI error code.

Handlers never build error bodies: they raise, and the handlers registered here render
`{"errors": [{"code", "message", "detail"}]}` as the distribution spec defines it, with the
headers some errors call for (built here from the error's fields).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from portside.auth.errors import AuthError, Denied, Throttled, Unauthorized
from portside.logs import bounded, printable
from portside.metadata.errors import DatabaseUnavailable
from portside.oci import errors as oci
from portside.services import errors as svc
from portside.services.imports import cache_errors as cache
from portside.storage.errors import StorageError

__all__ = [
    "DATABASE_RETRY_AFTER",
    "ERROR_TABLE",
    "LOCKED_DELETE",
    "error_response",
    "exception_handlers",
]

log = logging.getLogger("portside.api")

ERROR_TABLE: dict[type[Exception], tuple[int, str]] = {
    oci.NameInvalid: (400, "NAME_INVALID"),
    oci.TagInvalid: (400, "TAG_INVALID"),
    oci.DigestInvalid: (400, "DIGEST_INVALID"),
    oci.ManifestInvalid: (400, "MANIFEST_INVALID"),
    oci.ManifestTooLarge: (413, "MANIFEST_INVALID"),
    svc.NameUnknown: (404, "NAME_UNKNOWN"),
    svc.BlobUnknown: (404, "BLOB_UNKNOWN"),
    svc.BlobUploadUnknown: (404, "BLOB_UPLOAD_UNKNOWN"),
    svc.BlobUploadInvalid: (400, "BLOB_UPLOAD_INVALID"),
    svc.UploadRangeInvalid: (416, "BLOB_UPLOAD_INVALID"),
    svc.SizeInvalid: (400, "SIZE_INVALID"),
    svc.ManifestUnknown: (404, "MANIFEST_UNKNOWN"),
    svc.ManifestBlobUnknown: (400, "MANIFEST_BLOB_UNKNOWN"),
    svc.TagUnknown: (404, "TAG_UNKNOWN"),
    svc.Locked: (403, "DENIED"),
    svc.QuotaExceeded: (403, "DENIED"),
    svc.TooManyRequests: (429, "TOOMANYREQUESTS"),
    svc.TagImmutable: (409, "DENIED"),
    svc.RestoreRefused: (409, "DENIED"),
    svc.BodyInvalid: (400, "UNSUPPORTED"),
    svc.RangeNotSatisfiable: (416, "BLOB_UNKNOWN"),
    svc.Unsupported: (405, "UNSUPPORTED"),
    svc.ParameterInvalid: (400, "UNSUPPORTED"),
    cache.CachePushRefused: (403, "DENIED"),
    cache.CacheUpstreamBusy: (429, "TOOMANYREQUESTS"),
    Unauthorized: (401, "UNAUTHORIZED"),
    Denied: (403, "DENIED"),
    Throttled: (429, "TOOMANYREQUESTS"),
}
# A lock refusing a DELETE answers as ACR does (Azure/acr-cli#70 records its body): 405 with
# ACR's "disallowed" code. ACR's clients give up at once on a 405, while `az acr` retries a 403
# three times, five seconds apart. Refused writes stay 403 `DENIED`, which OCI clients report.
LOCKED_DELETE: tuple[int, str] = (405, "REGISTRY_DISALLOWED_OPERATION")
# Statuses Starlette raises itself (routing, method matching) and what they mean to a client.
_HTTP_CODES = {
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "UNSUPPORTED",
    413: "SIZE_INVALID",
    429: "TOOMANYREQUESTS",
}


def error_response(
    status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> Response:
    """An OCI error body with the given status."""
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return JSONResponse(body, status_code=status, headers=headers)


def _lookup(exc: Exception) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    raise LookupError(type(exc).__name__)


async def _domain_error(request: Request, exc: Exception) -> Response:
    status, code = _lookup(exc)
    if isinstance(exc, svc.Locked) and request.method == "DELETE":
        status, code = LOCKED_DELETE
    message = getattr(exc, "message", None) or str(exc)
    detail = getattr(exc, "detail", None)
    headers = _headers(exc)
    if isinstance(exc, AuthError) and exc.scopes:
        detail = [
            {"Type": s.type, "Name": s.name, "Action": a}
            for s in exc.scopes
            for a in sorted(s.actions)
        ]
    return error_response(status, code, message, detail, headers)


def _headers(exc: Exception) -> dict[str, str]:
    """The headers an error's answer carries besides the body."""
    if isinstance(exc, svc.UploadRangeInvalid):
        headers = {"Range": f"0-{max(exc.offset - 1, 0)}"}
        if exc.session is not None:
            repository, upload_id = exc.session
            headers["Location"] = f"/v2/{repository}/blobs/uploads/{upload_id}"
            headers["Docker-Upload-UUID"] = upload_id
        return headers
    if isinstance(exc, svc.RangeNotSatisfiable):
        return {"Content-Range": f"bytes */{exc.size}"}
    if isinstance(exc, (Throttled, svc.TooManyRequests)):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, cache.CacheUpstreamBusy) and exc.retry_after is not None:
        return {"Retry-After": str(max(1, round(exc.retry_after)))}
    if isinstance(exc, Unauthorized) and exc.challenge is not None:
        return {"WWW-Authenticate": exc.challenge}
    return {}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "UNSUPPORTED")
    return error_response(exc.status_code, code, exc.detail, None, dict(exc.headers or {}))


async def _body_cut_short(request: Request, exc: Exception) -> Response:
    # A body read the endpoints do not wrap themselves (they raise their own 400): the client
    # sent less than it announced or broke its chunks, and is likely gone. Not a server error.
    return error_response(400, "UNSUPPORTED", "the request body ended early")


async def _storage_failure(request: Request, exc: Exception) -> Response:
    # The blob store failed (not the request): 503 tells clients and balancers to retry.
    # The path (and a storage key in the message) come from the client: escaped, as in the
    # access log, so that neither forges a line nor drives a terminal.
    log.error(
        "storage failure in %s %s: %s",
        bounded(printable(request.method), 32),
        bounded(printable(request.url.path)),
        bounded(printable(str(exc))),
    )
    return error_response(503, "UNAVAILABLE", "blob storage is unavailable, retry later")


DATABASE_RETRY_AFTER = 5
"""Seconds a client is asked to wait when the database is lost: long enough for a restart or a
failover not to be hammered, short enough for `docker push` (which retries 5xx) to get through."""


async def _database_lost(request: Request, exc: Exception) -> Response:
    # The metadata database is unreachable (metadata/database.py): a state of the deployment,
    # not a bug, so one log line without a traceback and a 503 that says when to come back.
    log.error(
        "database unavailable in %s %s: %s",
        bounded(printable(request.method), 32),
        bounded(printable(request.url.path)),
        bounded(printable(str(exc))),
    )
    return error_response(
        503,
        "UNAVAILABLE",
        "the registry's database is unavailable, retry later",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception(
        "unhandled error in %s %s", printable(request.method), printable(request.url.path)
    )
    return error_response(500, "UNKNOWN", "internal server error")


def exception_handlers() -> dict[Any, Any]:
    """Handlers to register on the application."""
    handlers: dict[Any, Any] = {cls: _domain_error for cls in ERROR_TABLE}
    handlers[HTTPException] = _http_error
    handlers[ClientDisconnect] = _body_cut_short
    handlers[StorageError] = _storage_failure
    handlers[DatabaseUnavailable] = _database_lost
    handlers[Exception] = _unexpected
    return handlers
