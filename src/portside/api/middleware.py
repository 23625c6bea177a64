"""Pure ASGI middleware: the API version header and the request id on every response, the
access log, the request metrics, and the draining of request bodies left unread by an answer.

Logged values come from the client (the path is percent-decoded: `%0a` is a newline), so each
is escaped by `printable` before it is written: one request, one line, fields split by spaces.
In JSON logs (portside/logs.py) the same escaped, bounded values are the fields. No header is
ever logged: they carry credentials.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import anyio
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portside.api.errors import error_response
from portside.logs import REQUEST_ID, bounded, printable

__all__ = [
    "DRAIN_BYTES",
    "DRAIN_SECONDS",
    "BodyDrain",
    "Exchange",
    "ExchangeAudit",
    "ExchangeObserver",
    "RegistryHeaders",
    "route_template",
]

DRAIN_BYTES = 8 * 1024 * 1024
"""How much of an unread request body is read and dropped before the answer (> 4 MiB, the
manifest limit, so a refused manifest is read whole)."""
DRAIN_SECONDS = 5.0
"""How long the drain may wait for those bytes."""

log = logging.getLogger("portside.access")
_VERSION = (b"docker-distribution-api-version", b"registry/2.0")
_REQUEST_ID = b"x-request-id"
# What an incoming X-Request-Id may be to be kept (a proxy's or a client's id): short, and
# nothing a log reader or a header could misread. Anything else is replaced by a new id.
_WELL_FORMED_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_CONVERTER = re.compile(r":[a-z]+}")
# Blob upload requests, counted in progress while they run (the route is known only after).
_UPLOAD_METHODS = frozenset({"POST", "PATCH", "PUT"})


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and its answer, as the access log and the metrics see them."""

    method: str
    route: str
    status: int
    seconds: float
    bytes_in: int
    bytes_out: int
    upload: bool


class ExchangeObserver(Protocol):
    """What hears of each exchange (the metrics, api/metrics.py)."""

    def upload_started(self) -> None:
        """A blob upload request (start, chunk, finish) begins; `finished` follows."""
        ...

    def finished(self, exchange: Exchange) -> None:
        """An exchange ended (answered, or failed with the status sent so far, 0 if none)."""
        ...


class ExchangeAudit(Protocol):
    """What hears of each exchange with its answer's start (the audit log, api/audit.py)."""

    def finished(self, scope: Scope, exchange: Exchange, answer: Message) -> None:
        """An exchange ended; `answer` is its `http.response.start` ({} if none was sent)."""
        ...


class RegistryHeaders:
    """Adds `Docker-Distribution-API-Version` and `X-Request-Id` to every answer, sets the
    request id for the log lines of the request, logs each request if enabled, and reports
    each exchange to an observer (the metrics)."""

    def __init__(
        self,
        app: ASGIApp,
        access_log: bool = False,
        observer: ExchangeObserver | None = None,
        audit: ExchangeAudit | None = None,
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.observer = observer
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with its id set, counted, and then logged and observed."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        upload = scope["method"] in _UPLOAD_METHODS and "/blobs/uploads" in scope["path"]
        if upload and self.observer is not None:
            self.observer.upload_started()
        tally = _Tally(receive, send, request_id)
        try:
            await self.app(scope, tally.receive, tally.send)
        except Exception:
            # Starlette's outermost error middleware would answer outside this one, without
            # the request id: answer here, and let it log (the request id still set).
            if tally.status == 0:
                await error_response(500, "UNKNOWN", "internal server error")(
                    scope, receive, tally.send
                )
            raise
        finally:
            exchange = Exchange(
                method=scope["method"],
                route=route_template(scope),
                status=tally.status,
                seconds=time.perf_counter() - started,
                bytes_in=tally.bytes_in,
                bytes_out=tally.bytes_out,
                upload=upload,
            )
            if self.observer is not None:
                self.observer.finished(exchange)
            if self.access_log:
                _log_access(scope, exchange)
            if self.audit is not None:
                self.audit.finished(scope, exchange, tally.answer)
        REQUEST_ID.reset(token)


class _Tally:
    """The `receive` and `send` of one request, counting its bytes and adding the headers."""

    def __init__(self, receive: Receive, send: Send, request_id: str) -> None:
        self._receive, self._send = receive, send
        self._headers = [_VERSION, (_REQUEST_ID, request_id.encode())]
        self.status = 0  # until the answer starts
        self.bytes_in = 0
        self._sent = 0
        self._start: Message = {}
        self._sent_by_server = False

    @property
    def answer(self) -> Message:
        """The answer's `http.response.start` message ({} until it is sent)."""
        return self._start

    @property
    def bytes_out(self) -> int:
        """Body bytes sent; for a file the server sends itself, its announced length (read
        from the answer's headers only then, not on every answer)."""
        return _announced_length(self._start) if self._sent_by_server else self._sent

    async def receive(self) -> Message:
        """The next request message, its body bytes counted."""
        message = await self._receive()
        self.bytes_in += len(message.get("body", b""))
        return message

    async def send(self, message: Message) -> None:
        """Send `message`, with the headers added to the start of the answer."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [*message.get("headers", []), *self._headers]
            self._start = message
        elif message["type"] == "http.response.body":
            self._sent += len(message.get("body", b""))
        else:  # a file the server sends itself (pathsend)
            self._sent_by_server = True
        await self._send(message)


def _request_id(scope: Scope) -> str:
    """The request's `X-Request-Id` if well formed, else a new id (32 hex digits)."""
    for name, value in scope.get("headers", []):
        if name == _REQUEST_ID:
            given = bytes(value)
            if _WELL_FORMED_ID.fullmatch(given):
                return given.decode("ascii")
            break
    return secrets.token_hex(16)


def _announced_length(start: Message) -> int:
    """The Content-Length of a response start (0 if none is announced)."""
    for name, value in start.get("headers", []):
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return 0


def route_template(scope: Scope) -> str:
    """The matched route's template (`/v2/{name}/manifests/{reference}`) or "unmatched":
    a label of bounded cardinality, never the raw path."""
    route = scope.get("route")
    # Inside a mount (the management API) the mount's prefix is in root_path.
    prefix = str(scope.get("root_path", "")).removeprefix(str(scope.get("app_root_path", "")))
    if isinstance(route, Route):
        return _template(prefix + route.path)
    if isinstance(route, Mount):  # answered inside the mount before any of its routes matched
        return f"{prefix}/{{path}}"
    return "unmatched"


@lru_cache(maxsize=1024)
def _template(path: str) -> str:
    """A route path without its converters (`{name:path}` -> `{name}`), computed once per route:
    the paths are the application's own, so the cache holds a bounded set."""
    return _CONVERTER.sub("}", path)


def _log_access(scope: Scope, exchange: Exchange) -> None:
    method, path = printable(scope["method"]), bounded(printable(scope["path"]))
    client = scope.get("client")
    log.info(
        "%s %s %d %.1fms",
        method,
        path,
        exchange.status,
        exchange.seconds * 1000,
        extra={
            "access": {
                "method": bounded(method, 32),
                "route": exchange.route,
                "path": path,
                "status": exchange.status,
                "duration_ms": round(exchange.seconds * 1000, 3),
                "bytes_in": exchange.bytes_in,
                "bytes_out": exchange.bytes_out,
                "client": printable(client[0]) if client else None,
            }
        },
    )


class BodyDrain:
    """Reads and drops a request body the endpoint left unread before its answer starts.

    An answer given before the body is read (a refusal by the access step or a lock, a
    manifest over the limit, an unknown upload) would otherwise be followed by the server
    closing a connection the client is still writing to: the client sees a broken pipe or a
    reset instead of the answer. Draining is bounded (`DRAIN_BYTES`, `DRAIN_SECONDS`); past
    the bound the connection closes as before.
    """

    def __init__(
        self, app: ASGIApp, limit: int = DRAIN_BYTES, seconds: float = DRAIN_SECONDS
    ) -> None:
        self.app = app
        self.limit = limit
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Track how far the body was read; drain the rest when the answer starts."""
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        finished = False

        async def tracking_receive() -> Message:
            nonlocal finished
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                finished = True
            return message

        async def draining_send(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.start" and not finished:
                finished = True
                await self._drain(receive)
            await send(message)

        await self.app(scope, tracking_receive, draining_send)

    async def _drain(self, receive: Receive) -> None:
        drained = 0
        with anyio.move_on_after(self.seconds):
            while drained <= self.limit:
                message = await receive()
                if message["type"] != "http.request":
                    return
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (HTTP/1.1: a length above 0, or chunks)."""
    for name, value in scope.get("headers", []):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip(b" 0")):
            return True
    return False
