"""Request bodies that go wrong: cut short by the client, left unread by a refusal, or blobs
whose bytes vanished from storage. None of them is a 500, none leaves half a blob behind.

A body cut short reaches the app as a server reports it: some `http.request` messages, then
`http.disconnect` (granian does this for a body shorter than its Content-Length and for broken
chunked encoding alike; tests/e2e/test_bad_bodies.py checks that against a real server).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from portside.api.app import create_app
from portside.api.middleware import BodyDrain
from portside.config import Settings
from tests.registry_client import OCI_MANIFEST, digest_of, image_manifest, push_blob

REPO = "team/bodies"
DATA = b"0123456789abcdef" * 4096  # 64 KiB
SENT = DATA[:1000]  # what arrives before the client goes


@dataclass
class Answer:
    """What the app answered to a raw ASGI request."""

    status: int
    body: bytes
    received: int  # how many receive() calls the app made

    def code(self) -> str:
        """The first OCI error code of the body."""
        return str(json.loads(self.body)["errors"][0]["code"])


def deliver(
    client: TestClient,
    method: str,
    path: str,
    messages: list[Message],
    headers: dict[str, str],
    query: str = "",
) -> Answer:
    """Hand the app one request whose body arrives as `messages` (then the client is gone)."""
    status = 0
    body: list[bytes] = []
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"localhost")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
        "state": {},
    }

    async def run() -> None:
        await client.app(scope, receive, send)

    assert client.portal is not None
    client.portal.call(run)
    return Answer(status, b"".join(body), len(messages) - len(pending))


def cut_short(data: bytes) -> list[Message]:
    """`data` in two parts announcing more, then the disconnect a server reports."""
    half = len(data) // 2
    return [
        {"type": "http.request", "body": data[:half], "more_body": True},
        {"type": "http.request", "body": data[half:], "more_body": True},
        {"type": "http.disconnect"},
    ]


def length(n: int) -> dict[str, str]:
    """A Content-Length header."""
    return {"Content-Length": str(n)}


@pytest.fixture
def strict(settings: Settings) -> Iterator[TestClient]:
    """A client whose app re-raises any server exception (a 500 fails the test loudly)."""
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def uploads_dir(settings: Settings) -> Path:
    """Where the filesystem driver keeps upload bytes."""
    return settings.resolved_storage_path() / "uploads"


def blob_file(settings: Settings, digest: str) -> Path:
    """Where the filesystem driver keeps a blob's bytes."""
    hex_ = digest.split(":")[1]
    return settings.resolved_storage_path() / "blobs" / "sha256" / hex_[:2] / hex_


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing at error level (a traceback is logged at error level)."""
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_monolithic_upload_cut_short_is_400_and_leaves_no_session(
    strict: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    digest = digest_of(DATA)
    answer = deliver(
        strict,
        "POST",
        f"/v2/{REPO}/blobs/uploads/",
        cut_short(SENT),
        length(len(DATA)),
        f"digest={digest}",
    )
    assert (answer.status, answer.code()) == (400, "BLOB_UPLOAD_INVALID")
    assert strict.head(f"/v2/{REPO}/blobs/{digest}").status_code == 404
    assert not blob_file(settings, digest).exists()
    assert list(uploads_dir(settings).iterdir()) == []  # its session went with it
    no_errors_logged(caplog)


def test_chunk_cut_short_is_400_and_the_session_keeps_only_what_arrived(
    strict: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    location = strict.post(f"/v2/{REPO}/blobs/uploads/").headers["Location"]
    first = strict.patch(location, content=DATA[:100])
    assert first.status_code == 202
    answer = deliver(
        strict,
        "PATCH",
        location,
        cut_short(DATA[100:1100]),
        {**length(len(DATA) - 100), "Content-Range": f"100-{len(DATA) - 1}"},
    )
    assert (answer.status, answer.code()) == (400, "BLOB_UPLOAD_INVALID")
    # The session holds a prefix of what the client sent, and says so: it resumes from there.
    held = int(strict.get(location).headers["Range"].split("-")[1]) + 1
    assert 100 <= held <= 1100
    rest = strict.put(location, params={"digest": digest_of(DATA)}, content=DATA[held:])
    assert rest.status_code == 201, rest.text
    assert strict.get(f"/v2/{REPO}/blobs/{digest_of(DATA)}").content == DATA
    no_errors_logged(caplog)


def test_last_chunk_cut_short_commits_nothing(
    strict: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    location = strict.post(f"/v2/{REPO}/blobs/uploads/").headers["Location"]
    digest = digest_of(DATA)
    path, _, _ = location.partition("?")
    answer = deliver(strict, "PUT", path, cut_short(SENT), length(len(DATA)), f"digest={digest}")
    assert (answer.status, answer.code()) == (400, "BLOB_UPLOAD_INVALID")
    assert strict.head(f"/v2/{REPO}/blobs/{digest}").status_code == 404
    assert not blob_file(settings, digest).exists()
    no_errors_logged(caplog)


def test_manifest_cut_short_is_400_manifest_invalid_and_tags_nothing(
    strict: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    config = b'{"architecture": "amd64", "os": "linux"}'
    push_blob(strict, REPO, config)
    push_blob(strict, REPO, DATA)
    manifest = image_manifest(config, [DATA])
    answer = deliver(
        strict,
        "PUT",
        f"/v2/{REPO}/manifests/v1",
        cut_short(manifest[: len(manifest) // 2]),
        {**length(len(manifest)), "Content-Type": OCI_MANIFEST},
    )
    assert (answer.status, answer.code()) == (400, "MANIFEST_INVALID")
    assert strict.get(f"/v2/{REPO}/manifests/v1").status_code == 404
    no_errors_logged(caplog)


def test_acr_attributes_cut_short_is_400(
    strict: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    push_blob(strict, REPO, DATA)
    body = b'{"writeEnabled": false}'
    answer = deliver(strict, "PATCH", f"/acr/v1/{REPO}", cut_short(body[:10]), length(len(body)))
    assert (answer.status, answer.code()) == (400, "UNSUPPORTED")
    no_errors_logged(caplog)


def test_token_form_cut_short_is_400(strict: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    body = b"grant_type=password&service=x&scope=repository:a:pull"
    answer = deliver(
        strict,
        "POST",
        "/oauth2/token",
        cut_short(body[:10]),
        {**length(len(body)), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 400, answer.body
    no_errors_logged(caplog)


def test_linked_blob_without_bytes_is_503_and_names_the_digest(
    strict: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    digest = push_blob(strict, REPO, DATA)
    blob_file(settings, digest).unlink()
    caplog.set_level(logging.INFO)
    for headers in ({}, {"Range": "bytes=10-20"}):
        response = strict.get(f"/v2/{REPO}/blobs/{digest}", headers=headers)
        assert response.status_code == 503, (headers, response.text)
        assert response.json()["errors"][0]["code"] == "UNAVAILABLE"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2  # one line per request, naming the blob, no traceback
    assert all(digest in r.getMessage() and r.exc_info is None for r in errors)
    # HEAD answers from the metadata alone (no storage round trip): the link exists.
    assert strict.head(f"/v2/{REPO}/blobs/{digest}").status_code == 200


class Refuser:
    """An endpoint that answers 403 without reading the body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse at once."""
        await send({"type": "http.response.start", "status": 403, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})


def drain(limit: int, messages: list[Message], headers: dict[str, str]) -> tuple[int, list[Any]]:
    """Run a Refuser behind BodyDrain; how many body messages it consumed before answering."""
    pending = list(messages)
    consumed_at_answer: list[Any] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            consumed_at_answer.append(len(messages) - len(pending))

    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    anyio.run(BodyDrain(Refuser(), limit=limit, seconds=5.0), scope, receive, send)
    return len(messages) - len(pending), consumed_at_answer


def test_an_unread_body_is_drained_before_the_answer() -> None:
    parts = [{"type": "http.request", "body": b"x" * 100, "more_body": True}] * 9
    parts.append({"type": "http.request", "body": b"x" * 100, "more_body": False})
    consumed, at_answer = drain(10_000, parts, {"content-length": "1000"})
    assert consumed == 10
    assert at_answer == [10]


def test_draining_stops_at_its_bound() -> None:
    parts = [{"type": "http.request", "body": b"x" * 100, "more_body": True}] * 100
    consumed, _ = drain(450, parts, {"content-length": "10000"})
    assert 5 <= consumed <= 6


def test_a_request_without_body_is_not_drained() -> None:
    parts = [{"type": "http.request", "body": b"", "more_body": False}]
    consumed, _ = drain(10_000, parts, {"content-length": "0"})
    assert consumed == 0


def test_the_app_reads_a_refused_manifest_before_answering(strict: TestClient) -> None:
    mib = 1024 * 1024
    parts: list[Message] = [{"type": "http.request", "body": b" " * mib, "more_body": True}] * 4
    parts.append({"type": "http.request", "body": b" " * mib, "more_body": False})
    answer = deliver(
        strict,
        "PUT",
        f"/v2/{REPO}/manifests/big",
        parts,
        {**length(5 * mib), "Content-Type": OCI_MANIFEST},
    )
    assert (answer.status, answer.code()) == (413, "MANIFEST_INVALID")
    assert answer.received == len(parts)  # all of it read, so the client could send it all
