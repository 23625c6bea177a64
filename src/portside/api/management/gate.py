"""`RequestGate`: authenticate a management request before reading its body, then read at most
`MAX_BODY_BYTES` of it.

FastAPI reads and parses a route's body before it resolves the route's dependencies, so the
Basic-auth guards alone would let anyone make a worker read and parse any amount of JSON. This
pure ASGI middleware runs first: it checks the credentials (answering 401 or 429 without
reading a byte of the body), then buffers the body up to the cap, counting what `receive`
hands over whether or not `Content-Length` was sent, and answers 413 past it. The caller it
authenticated is left in the request's state for the guards (`security.py`), so credentials
are verified once per request.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portside.api.credentials import credentials_of
from portside.api.management.caller import CALLER_STATE
from portside.api.management.errors import (
    CHALLENGE,
    database_lost_response,
    error_response,
    throttled_response,
)
from portside.auth.credentials import Basic
from portside.auth.errors import Throttled, Unauthorized
from portside.metadata.errors import DatabaseUnavailable
from portside.services.management.admin import ManagementAuth

__all__ = ["CALLER_STATE", "MAX_BODY_BYTES", "RequestGate"]

MAX_BODY_BYTES = 1024 * 1024
"""The largest management request body: the biggest real one (a scope map) is a few KiB."""

# The API's own description: readable without credentials, and bodiless.
_OPEN_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect"})


class RequestGate:
    """Authenticates every request but the documentation's, then bounds its body."""

    def __init__(self, app: ASGIApp, auth: ManagementAuth, limit: int = MAX_BODY_BYTES) -> None:
        """Guard `app`: check credentials with `auth`, refuse bodies over `limit` bytes."""
        self.app = app
        self.auth = auth
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 401/429/413 itself, or call the app with the body already read."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _open(scope):
            # The documentation reads no body: buffering one for an anonymous caller would
            # only let anyone make a worker hold a megabyte per request.
            await self.app(scope, receive, send)
            return
        refusal = await self._authenticate(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._too_large()(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # The client went away: nobody to answer.
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._too_large()(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _authenticate(self, scope: Scope) -> Response | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        credentials = credentials_of(headers)
        if not isinstance(credentials, Basic):
            message = "authentication required: use HTTP Basic credentials"
            return error_response(401, "Unauthorized", message, CHALLENGE)
        try:
            caller = await self.auth.authenticate(
                credentials.username, credentials.password, client=_client(scope)
            )
        except Unauthorized as error:
            return error_response(401, "Unauthorized", error.message, CHALLENGE)
        except Throttled as error:
            return throttled_response(error)
        except DatabaseUnavailable as error:
            # Raised here, outside FastAPI's exception handlers (this runs before the app).
            return database_lost_response(str(scope.get("path", "")), error)
        scope.setdefault("state", {})[CALLER_STATE] = caller
        return None

    def _too_large(self) -> Response:
        message = f"the request body is larger than {self.limit} bytes"
        return error_response(413, "RequestEntityTooLarge", message)


def _client(scope: Scope) -> str:
    """The caller's network address, which sign-ins are throttled by (a proxy's, behind one)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


def _open(scope: Scope) -> bool:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return scope["method"] in ("GET", "HEAD") and path in _OPEN_PATHS


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over the buffered body, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
