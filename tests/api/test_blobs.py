"""Blob reads over HTTP: headers, byte ranges, unknown and malformed digests, per-repo access."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.registry_client import digest_of, error_code, push_blob

REPO = "team/blobs"
DATA = bytes(range(256)) * 4  # 1024 bytes, every offset distinguishable in pairs


@pytest.fixture
def blob(client: TestClient) -> str:
    """DATA pushed to REPO; its digest."""
    return push_blob(client, REPO, DATA)


def test_head_answers_size_digest_etag_and_ranges_without_body(
    client: TestClient, blob: str
) -> None:
    response = client.head(f"/v2/{REPO}/blobs/{blob}")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["Docker-Content-Digest"] == blob
    assert response.headers["ETag"] == f'"{blob}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.content == b""


def test_get_answers_the_bytes_with_the_same_headers(client: TestClient, blob: str) -> None:
    response = client.get(f"/v2/{REPO}/blobs/{blob}")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["Docker-Content-Digest"] == blob
    assert response.headers["ETag"] == f'"{blob}"'
    assert response.headers["Accept-Ranges"] == "bytes"


def test_empty_blob_round_trips(client: TestClient) -> None:
    digest = push_blob(client, REPO, b"")
    response = client.get(f"/v2/{REPO}/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=10-19", 10, 19),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=1020-5000", 1020, 1023),
        ("bytes=-5000", 0, 1023),
        ("bytes=0-1023", 0, 1023),
    ],
)
def test_range_request_answers_206_with_content_range(
    client: TestClient, blob: str, header: str, start: int, end: int
) -> None:
    response = client.get(f"/v2/{REPO}/blobs/{blob}", headers={"Range": header})
    assert response.status_code == 206, response.text
    assert response.content == DATA[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.headers["Content-Length"] == str(end - start + 1)
    assert response.headers["Docker-Content-Digest"] == blob


def test_head_with_range_answers_206_headers_only(client: TestClient, blob: str) -> None:
    response = client.head(f"/v2/{REPO}/blobs/{blob}", headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(DATA)}"
    assert response.headers["Content-Length"] == "100"
    assert response.content == b""


@pytest.mark.parametrize(
    "header", ["bytes=1024-", "bytes=1024-2000", "bytes=5000-6000", "bytes=-0"]
)
def test_range_outside_the_blob_is_416(client: TestClient, blob: str, header: str) -> None:
    response = client.get(f"/v2/{REPO}/blobs/{blob}", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"
    assert response.json()["errors"][0]["code"]


def test_unknown_digest_is_blob_unknown(client: TestClient, blob: str) -> None:
    absent = digest_of(b"never pushed")
    for method in ("GET", "HEAD"):
        response = client.request(method, f"/v2/{REPO}/blobs/{absent}")
        assert response.status_code == 404, method
    assert error_code(client.get(f"/v2/{REPO}/blobs/{absent}")) == "BLOB_UNKNOWN"


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:abc",
        "sha256:" + "A" * 64,
        "sha256:" + "g" * 64,
        "sha512:" + "a" * 64,
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "not-a-digest",
        "sha256" + "a" * 64,
    ],
)
def test_malformed_digest_is_digest_invalid(client: TestClient, blob: str, digest: str) -> None:
    response = client.get(f"/v2/{REPO}/blobs/{digest}")
    assert response.status_code == 400, response.text
    assert error_code(response) == "DIGEST_INVALID"


def test_blob_pushed_to_one_repository_is_not_readable_from_another(
    client: TestClient, blob: str
) -> None:
    push_blob(client, "team/other", b"unrelated")
    for method in ("GET", "HEAD"):
        response = client.request(method, f"/v2/team/other/blobs/{blob}")
        assert response.status_code == 404, method
    assert error_code(client.get(f"/v2/team/other/blobs/{blob}")) == "BLOB_UNKNOWN"


def test_delete_unlinks_blob_from_that_repository_only(client: TestClient, blob: str) -> None:
    assert push_blob(client, "team/sibling", DATA) == blob
    response = client.delete(f"/v2/{REPO}/blobs/{blob}")
    assert response.status_code == 202
    gone = client.get(f"/v2/{REPO}/blobs/{blob}")
    assert gone.status_code == 404
    assert error_code(gone) == "BLOB_UNKNOWN"
    still = client.get(f"/v2/team/sibling/blobs/{blob}")
    assert still.status_code == 200
    assert still.content == DATA
    again = client.delete(f"/v2/{REPO}/blobs/{blob}")
    assert again.status_code == 404
    assert error_code(again) == "BLOB_UNKNOWN"


def test_deleted_blob_can_be_pushed_again(client: TestClient, blob: str) -> None:
    assert client.delete(f"/v2/{REPO}/blobs/{blob}").status_code == 202
    assert push_blob(client, REPO, DATA) == blob
    assert client.get(f"/v2/{REPO}/blobs/{blob}").content == DATA


@pytest.mark.parametrize("header", ["items=0-9", "bytes 0-1"])
def test_range_with_unknown_unit_is_ignored(client: TestClient, blob: str, header: str) -> None:
    # RFC 9110 section 14.2: a server MUST ignore a Range field with a unit it does not know
    # (and may ignore one it cannot parse as a unit at all).
    response = client.get(f"/v2/{REPO}/blobs/{blob}", headers={"Range": header})
    assert response.status_code == 200, response.text
    assert response.content == DATA
