"""Bodies that go wrong on the wire, against a real `portside serve` (granian) over raw sockets.

- A body shorter than its Content-Length (the client then closes its side or goes) and a
  body with broken chunked encoding are the client's fault: 400, nothing stored, nothing
  logged at error level, and the server answers the next request.
- A body refused before it is read (a manifest over the size limit, a lock, an unknown
  upload) is drained first, so the client finishes sending and reads the answer instead of
  hitting a broken pipe.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .clients import Registry, e2e_target
from .conftest import start_registry

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

REPO = "team/wire"
BLOB = b"wire blob " * 10_000  # 100,000 bytes
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
REFUSED = 7 * 1024 * 1024  # over the 4 MiB manifest limit, within the drain bound


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A Portside server of its own, so that its log holds only these requests."""
    if e2e_target() != "portside":
        pytest.skip("Portside's answers to broken bodies")
    process, registry = start_registry("portside", tmp_path_factory.mktemp("wire"))
    try:
        yield registry
    finally:
        process.stop()


@dataclass
class Reply:
    """A raw HTTP answer: its status and JSON body (if any), and whether sending failed."""

    status: int
    body: bytes
    send_error: str | None = None

    def code(self) -> str:
        """The first OCI error code."""
        return str(json.loads(self.body)["errors"][0]["code"])


def exchange(registry: Registry, head: str, body: bytes, *, close_write: bool = True) -> Reply:
    """Send `head` (request line and headers) and `body` as given, then read the answer."""
    host, port = registry.host.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        send_error = None
        try:
            sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            send_error = repr(exc)
        raw = b""
        try:
            while b"\r\n\r\n" not in raw or len(raw) < _expected(raw):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                raw += chunk
        except OSError as exc:
            send_error = send_error or repr(exc)
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), (raw[:200], send_error)
    return Reply(int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2], send_error)


def _expected(raw: bytes) -> int:
    """The full length of an answer whose head has arrived (head + Content-Length)."""
    head, _, _ = raw.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(raw) + 1


def new_session(registry: Registry) -> str:
    """A fresh upload session's path."""
    response = httpx.post(f"{registry.url}/v2/{REPO}/blobs/uploads/")
    assert response.status_code == 202
    return response.headers["Location"]


def uploads_left(registry: Registry) -> list[Path]:
    """Upload files the filesystem driver holds."""
    return list((registry.data_dir / "blobs" / "uploads").glob("*"))


def assert_log_clean(registry: Registry) -> None:
    """No traceback, nothing at error level."""
    log = registry.log_path.read_text()
    assert "Traceback" not in log, registry.log_tail(80)
    assert " ERROR " not in log and "[ERROR]" not in log, registry.log_tail(80)


def test_body_shorter_than_its_length_is_400_and_stores_nothing(server: Registry) -> None:
    location = new_session(server)
    head = f"PATCH {location} HTTP/1.1\nHost: {server.host}\nContent-Length: {len(BLOB)}\n"
    reply = exchange(server, head, BLOB[:1000])
    assert (reply.status, reply.code()) == (400, "BLOB_UPLOAD_INVALID")
    held = httpx.get(f"{server.url}{location}").headers["Range"]
    assert int(held.split("-")[1]) < 1000  # at most the prefix that arrived

    digest = DIGEST
    before = set(uploads_left(server))
    post = f"POST /v2/{REPO}/blobs/uploads/?digest={digest} HTTP/1.1\nHost: {server.host}\n"
    reply = exchange(server, post + f"Content-Length: {len(BLOB)}\n", BLOB[:5000])
    assert (reply.status, reply.code()) == (400, "BLOB_UPLOAD_INVALID")
    assert httpx.head(f"{server.url}/v2/{REPO}/blobs/{digest}").status_code == 404
    assert set(uploads_left(server)) == before  # the monolithic upload's session is gone
    assert httpx.get(f"{server.url}/v2/").status_code == 200
    assert_log_clean(server)


def test_broken_chunked_encoding_is_400(server: Registry) -> None:
    location = new_session(server)
    head = f"PATCH {location} HTTP/1.1\nHost: {server.host}\nTransfer-Encoding: chunked\n"
    reply = exchange(server, head, b"5\r\nhello\r\nZZ\r\nnot a chunk\r\n0\r\n\r\n")
    assert (reply.status, reply.code()) == (400, "BLOB_UPLOAD_INVALID")
    assert httpx.get(f"{server.url}/v2/").status_code == 200
    assert_log_clean(server)


def test_manifest_shorter_than_its_length_is_400(server: Registry) -> None:
    head = (
        f"PUT /v2/{REPO}/manifests/v1 HTTP/1.1\nHost: {server.host}\n"
        "Content-Type: application/vnd.oci.image.manifest.v1+json\nContent-Length: 900\n"
    )
    reply = exchange(server, head, b'{"schemaVersion": 2, "mediaType": ')
    assert (reply.status, reply.code()) == (400, "MANIFEST_INVALID")
    assert httpx.get(f"{server.url}/v2/{REPO}/manifests/v1").status_code == 404
    assert_log_clean(server)


def test_a_client_that_vanishes_mid_body_leaves_no_trace(server: Registry) -> None:
    before = set(uploads_left(server))
    digest = "sha256:" + "b" * 64
    host, port = server.host.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /v2/{REPO}/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: {server.host}\r\n"
            f"Content-Length: {len(BLOB)}\r\n\r\n".encode()
            + BLOB[:3000]
        )
        time.sleep(0.3)
    # Nobody reads this answer: what matters is what the server kept and logged.
    deadline = time.monotonic() + 5
    while set(uploads_left(server)) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(uploads_left(server)) == before
    assert httpx.get(f"{server.url}/v2/").status_code == 200
    assert_log_clean(server)


def test_refused_manifest_is_read_before_the_answer(server: Registry) -> None:
    head = (
        f"PUT /v2/{REPO}/manifests/big HTTP/1.1\nHost: {server.host}\n"
        f"Content-Type: application/vnd.oci.image.manifest.v1+json\nContent-Length: {REFUSED}\n"
    )
    reply = exchange(server, head, b" " * REFUSED, close_write=False)
    assert reply.send_error is None  # the whole body went out: no broken pipe
    assert (reply.status, reply.code()) == (413, "MANIFEST_INVALID")


def test_refused_chunk_to_an_unknown_upload_is_read_before_the_answer(server: Registry) -> None:
    head = (
        f"PATCH /v2/{REPO}/blobs/uploads/unknownUploadId0 HTTP/1.1\nHost: {server.host}\n"
        f"Content-Length: {REFUSED}\n"
    )
    reply = exchange(server, head, b"x" * REFUSED, close_write=False)
    assert reply.send_error is None
    assert (reply.status, reply.code()) == (404, "BLOB_UPLOAD_UNKNOWN")


def test_push_refused_by_a_lock_is_read_before_the_answer(server: Registry) -> None:
    repository = "team/locked"
    digest = DIGEST
    pushed = httpx.post(
        f"{server.url}/v2/{repository}/blobs/uploads/", params={"digest": digest}, content=BLOB
    )
    assert pushed.status_code == 201
    locked = httpx.patch(f"{server.url}/acr/v1/{repository}", json={"writeEnabled": False})
    assert locked.status_code == 200, locked.text
    head = (
        f"POST /v2/{repository}/blobs/uploads/?digest={digest} HTTP/1.1\n"
        f"Host: {server.host}\nContent-Length: {REFUSED}\n"
    )
    reply = exchange(server, head, b"x" * REFUSED, close_write=False)
    assert reply.send_error is None
    assert (reply.status, reply.code()) == (403, "DENIED")
    assert_log_clean(server)
