"""A webhook receiver for tests: an HTTP server on loopback, in a thread."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Receiver", "serving"]


class Receiver:
    """An HTTP server on loopback that answers the statuses it is given, then 200.

    `hold` seconds are waited before each answer (a slow receiver); `answer` is the body and
    extra headers of each answer.
    """

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.hold = 0.0
        self.answer: tuple[bytes, dict[str, str]] = (b"thanks!", {})
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.arrived:
                    receiver.received.append((dict(self.headers.items()), json.loads(body)))
                    receiver.arrived.notify_all()
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                time.sleep(receiver.hold)
                content, headers = receiver.answer
                # The sender may be gone by now (a server killed mid-delivery).
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(content)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(content)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> list[str]:
        """The event ids received, in order."""
        return [payload["id"] for _, payload in self.received]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The payloads once `count` requests arrived (AssertionError after `timeout`)."""
        with self.arrived:
            arrived = self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
        assert arrived, f"{len(self.received)} of {count} webhook requests arrived"
        return [payload for _, payload in self.received]


@contextlib.contextmanager
def serving() -> Iterator[Receiver]:
    """A receiver serving until the block ends."""
    found = Receiver()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()
        thread.join()
