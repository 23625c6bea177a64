"""Pure ASGI middleware: the API version header on every response, and the access log."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RegistryHeaders"]

log = logging.getLogger("portside.access")
_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


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
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )
