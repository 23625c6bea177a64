"""Request bodies are bounded and read only after authentication: the management API and the
token endpoints, with and without `Content-Length` (raw ASGI calls count what is read)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message

from portside.config import Settings
from tests.management_harness import API, Harness, basic, management_harness

CHUNK = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024  # the management API's cap (api/management/gate.py)


@pytest.fixture
def mgmt(settings: Settings) -> Iterator[Harness]:
    """The management app over a fresh database."""
    with management_harness(settings) as harness:
        yield harness


@dataclass
class Answer:
    """What an ASGI app answered, and how many body bytes it took from `receive`."""

    status: int = 0
    body: bytes = b""
    consumed: int = 0
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


async def call(app: ASGIApp, method: str, path: str, headers: dict[str, str], total: int) -> Answer:
    """Send `total` bytes of body in chunks, without Content-Length unless `headers` has one."""
    answer = Answer()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "server": ("127.0.0.1", 5000),
        "client": ("127.0.0.1", 40000),
    }

    async def receive() -> Message:
        if answer.consumed >= total:
            return {"type": "http.disconnect"}
        size = min(CHUNK, total - answer.consumed)
        answer.consumed += size
        more = answer.consumed < total
        # One form field per chunk: no single field reaches a parser's per-field cap.
        piece = (b"s=" + b"a" * size)[: size - 1] + b"&"
        return {"type": "http.request", "body": piece, "more_body": more}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope, receive, send)  # type: ignore[arg-type]
    return answer


def _send(mgmt: Harness, headers: dict[str, str], total: int, method: str = "POST") -> Answer:
    async def run() -> Answer:
        return await call(mgmt.app, method, f"{API}/service-principals", headers, total)

    return mgmt.run(run)


JSON = {"Host": "127.0.0.1:5000", "Content-Type": "application/json"}


def test_unauthenticated_bodies_are_refused_before_a_byte_is_read(mgmt: Harness) -> None:
    for credentials in ({}, basic("admin", "wrong"), {"Authorization": "Bearer x"}):
        answer = _send(mgmt, {**JSON, **credentials}, 16 * 1024 * 1024)
        assert answer.status == 401, answer.body
        assert answer.json()["error"]["code"] == "Unauthorized"
        assert answer.headers["www-authenticate"].startswith("Basic")
        assert answer.consumed == 0


def test_the_open_documentation_reads_no_body(mgmt: Harness) -> None:
    async def run() -> Answer:
        return await call(mgmt.app, "GET", f"{API}/openapi.json", JSON, 16 * 1024 * 1024)

    answer = mgmt.run(run)
    assert answer.status == 200 and answer.json()["openapi"]
    assert answer.consumed == 0


def test_oversized_bodies_get_413_with_or_without_content_length(mgmt: Harness) -> None:
    too_big = 16 * 1024 * 1024
    streamed = _send(mgmt, {**JSON, **mgmt.admin}, too_big)
    assert streamed.status == 413, streamed.body
    assert streamed.json()["error"]["code"] == "RequestEntityTooLarge"
    assert streamed.consumed <= MAX_BODY_BYTES + CHUNK
    declared = _send(mgmt, {**JSON, **mgmt.admin, "Content-Length": str(too_big)}, too_big)
    assert declared.status == 413
    assert declared.consumed == 0
    # Any method, whether or not the route reads a body.
    assert _send(mgmt, {**JSON, **mgmt.admin}, too_big, method="GET").status == 413


def test_bounded_bodies_still_reach_the_routes(mgmt: Harness) -> None:
    # Streamed in pieces: the gate hands the whole body on.
    pieces = iter([b'{"name": ', b'"ci"', b" " * 100_000, b"}"])
    created = mgmt.client.post(
        f"{API}/service-principals", headers={**JSON, **mgmt.admin}, content=pieces
    )
    assert created.status_code == 201, created.text
    assert mgmt.client.get(f"{API}/openapi.json").status_code == 200


def test_token_forms_are_bounded_when_streamed(client: TestClient) -> None:
    form = {"Host": "127.0.0.1:5000", "Content-Type": "application/x-www-form-urlencoded"}
    for path in ("/oauth2/token", "/oauth2/exchange"):

        async def run(path: str = path) -> Answer:
            return await call(client.app, "POST", path, form, 18 * 1024 * 1024)

        answer = client.portal.call(run)
        assert answer.status == 400, answer.body
        assert answer.json()["errors"][0]["code"] == "UNSUPPORTED"
        assert answer.consumed <= 64 * 1024 + CHUNK
