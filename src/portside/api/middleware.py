"""Pure ASGI middleware: the API version header on every response, and the access log.

Logged values come from the client (the path is percent-decoded: `%0a` is a newline), so each
is escaped by `printable` before it is written: one request, one line, fields split by spaces.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RegistryHeaders", "printable"]

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
