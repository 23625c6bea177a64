"""Pure ASGI middleware: the API version header on every response, the access log, and the
draining of request bodies left unread by an answer.

Logged values come from the client (the path is percent-decoded: `%0a` is a newline), so each
is escaped by `printable` before it is written: one request, one line, fields split by spaces.
"""

from __future__ import annotations

import logging
import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DRAIN_BYTES", "DRAIN_SECONDS", "BodyDrain", "RegistryHeaders", "printable"]

DRAIN_BYTES = 8 * 1024 * 1024
"""How much of an unread request body is read and dropped before the answer (> 4 MiB, the
manifest limit, so a refused manifest is read whole)."""
DRAIN_SECONDS = 5.0
"""How long the drain may wait for those bytes."""

log = logging.getLogger("portside.access")
_VERSION = (b"docker-distribution-api-version", b"registry/2.0")
# Printable characters escaped all the same: the space (the field separator), the
# backslash (the escape) and the double quote (so values can be quoted by a later format).
_ESCAPED_TOO = frozenset(' \\"')


def printable(value: str) -> str:
    """`value` with control, separator and other unprintable characters, spaces, backslashes
    and double quotes written as `\\xNN`, `\\uNNNN` or `\\UNNNNNNNN` escapes."""
    if value.isprintable() and not _ESCAPED_TOO.intersection(value):
        return value
    return "".join(_escape(c) for c in value)


def _escape(char: str) -> str:
    if char.isprintable() and char not in _ESCAPED_TOO:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class RegistryHeaders:
    """Adds `Docker-Distribution-API-Version` and, if enabled, logs each request."""

    def __init__(self, app: ASGIApp, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap `send` to add the header."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_with_header(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), _VERSION]
            await send(message)

        await self.app(scope, receive, send_with_header)
        if self.access_log:
            log.info(
                "%s %s %d %.1fms",
                printable(scope["method"]),
                printable(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
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
