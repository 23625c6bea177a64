"""A sweep of malformed requests: each gets a 4xx OCI error with the right code, never a 500.

Requests go through the TestClient when httpx keeps the path as written, and straight to the
ASGI app when httpx would normalise it (`/v2/../x` becomes `/x`). A recorder in front of the app
notes the path each request arrived with, so every case proves what the server actually saw.
After the sweep, an image pushed beforehand must still pull byte for byte.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote

import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portside.api.app import create_app
from portside.config import Settings
from tests.registry_client import OCI_MANIFEST, digest_of, image_manifest, push_blob

KEEP = "team/keep"
CONFIG = b'{"architecture": "amd64", "os": "linux"}'
LAYERS = [b"first layer " * 200, b"second layer " * 300]
MANIFEST = image_manifest(CONFIG, LAYERS)
# The same blobs under another digest: what a request that escaped its repository could write.
IMPOSTOR = image_manifest(CONFIG, LAYERS, annotations={"impostor": "yes"})
HEX = "a" * 64


class Recorder:
    """ASGI middleware remembering the path of every HTTP request that reaches the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Record, then pass on."""
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@dataclass
class RawResponse:
    """What the app answered to a request sent without an HTTP client."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.content)


def send_raw(
    client: TestClient, method: str, path: str, headers: dict[str, str], body: bytes
) -> RawResponse:
    """Deliver `path` to the app exactly as given (a server would not normalise it either)."""
    status = 500
    response_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            for key, value in message.get("headers", []):
                response_headers[key.decode("latin-1").lower()] = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    async def run() -> None:
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
            "headers": [
                (b"host", b"localhost"),
                (b"content-length", str(len(body)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in headers.items()),
            ],
            "client": ("testclient", 50000),
            "server": ("localhost", 80),
            "state": {},
        }
        with contextlib.suppress(Exception):  # the app re-raises after answering 500
            await client.app(scope, receive, send)

    assert client.portal is not None
    client.portal.call(run)
    return RawResponse(status, response_headers, b"".join(chunks))


@dataclass(frozen=True)
class Case:
    """One malformed request and the error it must get.

    `path` is a URL path (percent-encoded) sent through the TestClient, or, with `raw`, the exact
    path handed to the app. `{blob}` is a blob of KEEP, `{upload}` a fresh upload session of it.
    """

    id: str
    method: str
    path: str
    status: int
    code: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    raw: bool = False


def _name_cases() -> list[Case]:
    bad = {
        "upper": "UPPER",
        "300-chars": "a" * 300,
        "double-slash": "a//b",
        "leading-dash": "-a",
        "trailing-slash": "team/keep/",
        "space": "a%20b",
        "non-ascii": "caf%C3%A9",
        "nul": "a%00",
        "encoded-dotdot": "a%2F..%2Fteam%2Fkeep",
    }
    cases = [
        Case(f"name-{k}", "GET", f"/v2/{v}/tags/list", 400, "NAME_INVALID") for k, v in bad.items()
    ]
    cases += [
        Case("name-dotdot-raw", "GET", "/v2/../x/tags/list", 400, "NAME_INVALID", raw=True),
        Case("name-dot-raw", "GET", "/v2/./team/keep/tags/list", 400, "NAME_INVALID", raw=True),
        Case("name-upload-upper", "POST", "/v2/Team/Keep/blobs/uploads/", 400, "NAME_INVALID"),
        Case(
            "name-put-dotdot-raw",
            "PUT",
            "/v2/team/x/../keep/manifests/v1",
            400,
            "NAME_INVALID",
            headers={"Content-Type": OCI_MANIFEST},
            body=IMPOSTOR,
            raw=True,
        ),
        Case(
            "name-mount-from-upper",
            "POST",
            "/v2/team/other/blobs/uploads/",
            400,
            "NAME_INVALID",
            params={"mount": "{blob}", "from": "TEAM/KEEP"},
        ),
        Case(
            "name-mount-from-trailing-newline",
            "POST",
            "/v2/team/other/blobs/uploads/",
            400,
            "NAME_INVALID",
            params={"mount": "{blob}", "from": "team/keep\n"},
        ),
    ]
    return cases


def _digest_cases() -> list[Case]:
    malformed = {
        "short": "sha256:abc",
        "upper-hex": "sha256:" + "A" * 64,
        "non-hex": "sha256:" + "g" * 64,
        "unknown-algorithm": "sha384:" + "a" * 96,
        "no-colon-blob": "sha256" + HEX,
        "trailing-newline": f"sha256:{HEX}%0A",
        "overlong": "sha256:" + "a" * 300,
    }
    cases = [
        Case(f"digest-get-{k}", "GET", f"/v2/{KEEP}/blobs/{v}", 400, "DIGEST_INVALID")
        for k, v in malformed.items()
    ]
    upload = "/v2/team/keep/blobs/uploads/"
    cases += [
        Case("digest-delete-blob", "DELETE", f"/v2/{KEEP}/blobs/sha256:abc", 400, "DIGEST_INVALID"),
        # A manifest reference that cannot exist is an absent manifest for reads and deletes.
        Case(
            "digest-get-manifest",
            "GET",
            f"/v2/{KEEP}/manifests/sha256:xyz",
            404,
            "MANIFEST_UNKNOWN",
        ),
        Case(
            "digest-delete-manifest",
            "DELETE",
            f"/v2/{KEEP}/manifests/md5:00",
            404,
            "MANIFEST_UNKNOWN",
        ),
        Case(
            "digest-put-manifest",
            "PUT",
            f"/v2/{KEEP}/manifests/sha256:{'0' * 63}",
            400,
            "DIGEST_INVALID",
            headers={"Content-Type": OCI_MANIFEST},
            body=IMPOSTOR,
        ),
        Case("digest-referrers", "GET", f"/v2/{KEEP}/referrers/sha256:abc", 400, "DIGEST_INVALID"),
        Case(
            "digest-monolithic",
            "POST",
            upload,
            400,
            "DIGEST_INVALID",
            body=b"x",
            params={"digest": "sha256:x"},
        ),
        Case(
            "digest-mount",
            "POST",
            upload,
            400,
            "DIGEST_INVALID",
            params={"mount": "latest", "from": KEEP},
        ),
        Case(
            "digest-put-upload-junk",
            "PUT",
            "{upload}",
            400,
            "DIGEST_INVALID",
            params={"digest": "junk"},
        ),
        Case("digest-put-upload-missing", "PUT", "{upload}", 400, "DIGEST_INVALID"),
    ]
    return cases


def _tag_cases() -> list[Case]:
    bad = {"dash": "-bad", "dot": ".x", "long": "t" * 200, "space": "a%20b", "nul": "v1%00"}
    cases = [
        Case(f"tag-get-{k}", "GET", f"/v2/{KEEP}/manifests/{v}", 404, "MANIFEST_UNKNOWN")
        for k, v in bad.items()
    ]
    cases += [
        Case(
            "tag-get-trailing-newline",
            "GET",
            f"/v2/{KEEP}/manifests/v1%0A",
            404,
            "MANIFEST_UNKNOWN",
        ),
        Case(
            "tag-put-trailing-newline",
            "PUT",
            f"/v2/{KEEP}/manifests/latest%0A",
            400,
            "TAG_INVALID",
            headers={"Content-Type": OCI_MANIFEST},
            body=IMPOSTOR,
        ),
        Case(
            "tag-put-long",
            "PUT",
            f"/v2/{KEEP}/manifests/{'t' * 129}",
            400,
            "TAG_INVALID",
            headers={"Content-Type": OCI_MANIFEST},
            body=IMPOSTOR,
        ),
    ]
    return cases


def _content_range_cases() -> list[Case]:
    junk = {
        "word": "abc",
        "equals-form": "bytes=0-3",
        "open-end": "0-",
        "no-start": "-3",
        "end-before-start": "3-1",
        "bad-total": "0-3/abc",
        "hex": "0x0-0x3",
        "spaces": "0 - 3",
        "empty": "",
        "5000-digits": "0-" + "9" * 5000,
    }
    cases = [
        Case(
            f"content-range-{k}",
            "PATCH",
            "{upload}",
            400,
            "BLOB_UPLOAD_INVALID",
            headers={"Content-Range": v},
            body=b"abcd",
        )
        for k, v in junk.items()
    ]
    cases += [
        Case(
            "content-range-gap",
            "PATCH",
            "{upload}",
            416,
            "BLOB_UPLOAD_INVALID",
            headers={"Content-Range": "5-8"},
            body=b"abcd",
        ),
        Case(
            "content-range-too-long",
            "PATCH",
            "{upload}",
            400,
            "SIZE_INVALID",
            headers={"Content-Range": "0-9"},
            body=b"abcd",
        ),
    ]
    return cases


def _range_cases() -> list[Case]:
    junk = {
        "empty-spec": "bytes=",
        "word": "bytes=abc",
        "reversed": "bytes=5-2",
        "zero-suffix": "bytes=-0",
        "multiple": "bytes=0-1,2-3",
        "three-parts": "bytes=1-2-3",
        "past-end": "bytes=999999-",
        "5000-digits": "bytes=" + "9" * 5000 + "-",
    }
    return [
        Case(
            f"range-{k}",
            "GET",
            f"/v2/{KEEP}/blobs/{{blob}}",
            416,
            "BLOB_UNKNOWN",
            headers={"Range": v},
        )
        for k, v in junk.items()
    ]


def _manifest_body_cases() -> list[Case]:
    nested = b'{"schemaVersion": 2, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    bodies = {
        "empty": b"",
        "truncated": b'{"schemaVersion": 2',
        "null": b"null",
        "array": b"[]",
        "string": b'"manifest"',
        "number": b"2",
        "single-quotes": b"{'schemaVersion': 2}",
        "trailing-comma": b'{"schemaVersion": 2,}',
        "deeply-nested": nested,
        "5000-digit-number": b'{"schemaVersion": ' + b"9" * 5000 + b"}",
        "non-utf8-bytes": b"\xff\xfe\xfd\xfc",
        "lone-continuation-byte": b"\x80{}",
        "latin1-in-string": b'{"schemaVersion": 2, "annotations": {"a": "caf\xe9"}}',
        "utf16-encoded-manifest": MANIFEST.decode().encode("utf-16"),
    }
    return [
        Case(
            f"manifest-{k}",
            "PUT",
            f"/v2/{KEEP}/manifests/bad",
            400,
            "MANIFEST_INVALID",
            headers={"Content-Type": OCI_MANIFEST},
            body=v,
        )
        for k, v in bodies.items()
    ]


def _upload_id_cases() -> list[Case]:
    base = f"/v2/{KEEP}/blobs/uploads"
    return [
        Case("upload-id-dotdot-raw", "GET", f"{base}/..", 404, "BLOB_UPLOAD_UNKNOWN", raw=True),
        Case(
            "upload-id-encoded-dotdot",
            "PATCH",
            f"{base}/%2E%2E",
            404,
            "BLOB_UPLOAD_UNKNOWN",
            body=b"x",
        ),
        Case("upload-id-dots", "GET", f"{base}/........", 404, "BLOB_UPLOAD_UNKNOWN", raw=True),
        Case("upload-id-nul", "DELETE", f"{base}/abcdefgh%00", 404, "BLOB_UPLOAD_UNKNOWN"),
        Case(
            "upload-id-too-long",
            "PUT",
            f"{base}/{'a' * 65}",
            404,
            "BLOB_UPLOAD_UNKNOWN",
            params={"digest": digest_of(b"")},
        ),
        # Not routable at all: the router's 404, still as an OCI error body.
        Case(
            "upload-id-traversal-raw",
            "PATCH",
            f"{base}/../../etc",
            404,
            "NOT_FOUND",
            body=b"x",
            raw=True,
        ),
        Case(
            "blob-traversal-raw",
            "GET",
            f"/v2/{KEEP}/blobs/../../../etc/passwd",
            404,
            "NOT_FOUND",
            raw=True,
        ),
    ]


CASES = [
    *_name_cases(),
    *_digest_cases(),
    *_tag_cases(),
    *_content_range_cases(),
    *_range_cases(),
    *_manifest_body_cases(),
    *_upload_id_cases(),
]


@pytest.fixture
def lenient(settings: Settings) -> Iterator[TestClient]:
    """A client over a recorded app that answers server exceptions with 500, as a server would."""
    with TestClient(
        Recorder(create_app(settings)), raise_server_exceptions=False, base_url="http://localhost"
    ) as client:
        yield client


def push_keep(client: TestClient) -> str:
    """Push KEEP:v1; returns the manifest digest."""
    for blob in (CONFIG, *LAYERS):
        push_blob(client, KEEP, blob)
    response = client.put(
        f"/v2/{KEEP}/manifests/v1", content=MANIFEST, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"]


def assert_keep_intact(client: TestClient, digest: str) -> None:
    """KEEP:v1 pulls byte-identical: manifest by tag and digest, and every blob."""
    for reference in ("v1", digest):
        response = client.get(f"/v2/{KEEP}/manifests/{reference}")
        assert response.status_code == 200, reference
        assert response.content == MANIFEST
        assert response.headers["Docker-Content-Digest"] == digest_of(MANIFEST)
    for blob in (CONFIG, *LAYERS):
        response = client.get(f"/v2/{KEEP}/blobs/{digest_of(blob)}")
        assert response.status_code == 200
        assert response.content == blob


def run_case(client: TestClient, case: Case) -> Any:
    """Send the case's request; check it reached the app with the path as written."""
    blob = digest_of(LAYERS[0])
    path = case.path.replace("{blob}", blob)
    if "{upload}" in path:
        session = client.post(f"/v2/{KEEP}/blobs/uploads/")
        assert session.status_code == 202
        path = path.replace("{upload}", session.headers["Location"])
    params = {k: v.replace("{blob}", blob) for k, v in case.params.items()}
    recorder = cast(Recorder, client.app)
    recorder.paths.clear()
    if case.raw:
        assert not params
        response: Any = send_raw(client, case.method, path, case.headers, case.body)
        expected_path = path
    else:
        response = client.request(
            case.method, path, params=params, headers=case.headers, content=case.body
        )
        expected_path = unquote(path)
    assert recorder.paths[-1] == expected_path, "the request was rewritten before the app"
    return response


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gets_oci_error(lenient: TestClient, case: Case) -> None:
    digest = push_keep(lenient)
    response = run_case(lenient, case)
    assert response.status_code == case.status, response.content[:300]
    assert response.headers["content-type"].startswith("application/json")
    errors = response.json()["errors"]
    assert errors[0]["code"] == case.code, errors
    assert isinstance(errors[0]["message"], str)
    assert_keep_intact(lenient, digest)
    assert lenient.get(f"/v2/{KEEP}/manifests/{digest_of(IMPOSTOR)}").status_code == 404
    assert lenient.get(f"/v2/{KEEP}/tags/list").json()["tags"] == ["v1"]


def test_image_survives_the_whole_sweep(lenient: TestClient) -> None:
    digest = push_keep(lenient)
    answers = {case.id: run_case(lenient, case).status_code for case in CASES}
    assert answers.get("name-upper") == 400  # the sweep ran
    assert_keep_intact(lenient, digest)
