"""Blob uploads over HTTP: sessions, monolithic and chunked pushes, mounts, failures, resumption."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from tests.registry_client import digest_of, error_code, push_blob

REPO = "team/uploads"


def start_session(client: TestClient, repo: str = REPO) -> str:
    """POST a new upload session; returns its Location."""
    response = client.post(f"/v2/{repo}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def patch_chunk(client: TestClient, location: str, data: bytes, start: int) -> None:
    """PATCH one chunk with its Content-Range and check the Range that comes back."""
    end = start + len(data) - 1
    response = client.patch(location, content=data, headers={"Content-Range": f"{start}-{end}"})
    assert response.status_code == 202, response.text
    assert response.headers["Range"] == f"0-{end}"


def read_blob(client: TestClient, repo: str, digest: str) -> bytes:
    """GET a blob, which must exist."""
    response = client.get(f"/v2/{repo}/blobs/{digest}")
    assert response.status_code == 200, response.text
    return response.content


def test_post_opens_a_session_with_location_uuid_and_empty_range(client: TestClient) -> None:
    response = client.post(f"/v2/{REPO}/blobs/uploads/")
    assert response.status_code == 202
    upload_id = response.headers["Docker-Upload-UUID"]
    assert upload_id
    assert response.headers["Location"] == f"/v2/{REPO}/blobs/uploads/{upload_id}"
    assert response.headers["Range"] == "0-0"
    assert response.content == b""


def test_post_without_trailing_slash_also_opens_a_session(client: TestClient) -> None:
    response = client.post(f"/v2/{REPO}/blobs/uploads")
    assert response.status_code == 202
    assert response.headers["Docker-Upload-UUID"] in response.headers["Location"]


def test_monolithic_post_with_digest_creates_readable_blob(client: TestClient) -> None:
    data = b"monolithic blob content"
    digest = digest_of(data)
    response = client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v2/{REPO}/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    assert read_blob(client, REPO, digest) == data


def test_chunked_patches_then_put_without_body_commits_the_blob(client: TestClient) -> None:
    chunks = [b"first-", b"second-", b"third"]
    data = b"".join(chunks)
    location = start_session(client)
    offset = 0
    for chunk in chunks:
        patch_chunk(client, location, chunk, offset)
        offset += len(chunk)
    response = client.put(location, params={"digest": digest_of(data)})
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest_of(data)
    assert response.headers["Location"] == f"/v2/{REPO}/blobs/{digest_of(data)}"
    assert read_blob(client, REPO, digest_of(data)) == data


def test_chunked_patch_then_put_with_final_chunk_commits_everything(client: TestClient) -> None:
    head, tail = b"the head of the blob / ", b"and its tail"
    location = start_session(client)
    patch_chunk(client, location, head, 0)
    response = client.put(location, params={"digest": digest_of(head + tail)}, content=tail)
    assert response.status_code == 201, response.text
    assert read_blob(client, REPO, digest_of(head + tail)) == head + tail


def test_streamed_patch_without_content_range_appends_every_chunk(client: TestClient) -> None:
    parts = [bytes([i]) * 1000 for i in range(1, 8)]
    data = b"".join(parts)

    def stream() -> Iterator[bytes]:
        yield from parts

    location = start_session(client)
    response = client.patch(location, content=stream())
    assert response.status_code == 202, response.text
    assert response.headers["Range"] == f"0-{len(data) - 1}"
    response = client.put(location, params={"digest": digest_of(data)})
    assert response.status_code == 201, response.text
    assert read_blob(client, REPO, digest_of(data)) == data


def test_status_reports_progress_with_range_and_uuid(client: TestClient) -> None:
    location = start_session(client)
    upload_id = location.rsplit("/", 1)[1]
    patch_chunk(client, location, b"12345", 0)
    response = client.get(location)
    assert response.status_code == 204
    assert response.headers["Range"] == "0-4"
    assert response.headers["Docker-Upload-UUID"] == upload_id
    assert response.headers["Location"] == location


def test_cancelled_upload_is_unknown_afterwards(client: TestClient) -> None:
    location = start_session(client)
    patch_chunk(client, location, b"doomed", 0)
    assert client.delete(location).status_code == 204
    response = client.get(location)
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"
    response = client.patch(location, content=b"more")
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


def test_out_of_order_chunk_is_416_with_current_range_and_upload_continues(
    client: TestClient,
) -> None:
    first, second = b"0123456789", b"abcdefghij"
    location = start_session(client)
    patch_chunk(client, location, first, 0)
    skipped = client.patch(location, content=second, headers={"Content-Range": "20-29"})
    assert skipped.status_code == 416
    assert skipped.headers["Range"] == "0-9"
    assert error_code(skipped) == "BLOB_UPLOAD_INVALID"
    repeated = client.patch(location, content=first, headers={"Content-Range": "0-9"})
    assert repeated.status_code == 416
    assert repeated.headers["Range"] == "0-9"
    assert client.get(location).headers["Range"] == "0-9"
    patch_chunk(client, location, second, 10)
    response = client.put(location, params={"digest": digest_of(first + second)})
    assert response.status_code == 201, response.text
    assert read_blob(client, REPO, digest_of(first + second)) == first + second


def test_out_of_order_chunk_416_carries_location_and_oci_error_body(client: TestClient) -> None:
    """The spec's 416 names the session (Location) and where it ends (Range)."""
    location = start_session(client)
    patch_chunk(client, location, b"0123456789", 0)
    skipped = client.patch(location, content=b"abcdefghij", headers={"Content-Range": "20-29"})
    assert skipped.status_code == 416
    assert skipped.headers["Location"] == location
    assert skipped.headers["Range"] == "0-9"
    assert location.endswith(skipped.headers["Docker-Upload-UUID"])
    assert skipped.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"


def test_closing_put_with_out_of_order_content_range_is_416_and_session_survives(
    client: TestClient,
) -> None:
    """The conformance suite's out-of-order last chunk sent with PUT: 416, nothing appended."""
    first, second = b"0123456789", b"abcdefghij"
    digest = digest_of(first + second)
    location = start_session(client)
    patch_chunk(client, location, first, 0)
    for bad_range in ("0-9", "20-29"):
        refused = client.put(
            location,
            params={"digest": digest},
            content=second,
            headers={"Content-Range": bad_range},
        )
        assert refused.status_code == 416, refused.text
        assert refused.headers["Range"] == "0-9"
        assert refused.headers["Location"] == location
        assert error_code(refused) == "BLOB_UPLOAD_INVALID"
    assert client.get(location).headers["Range"] == "0-9"
    response = client.put(
        location, params={"digest": digest}, content=second, headers={"Content-Range": "10-19"}
    )
    assert response.status_code == 201, response.text
    assert read_blob(client, REPO, digest) == first + second


def test_chunk_after_upload_finished_is_upload_unknown(client: TestClient) -> None:
    data = b"finished"
    location = start_session(client)
    patch_chunk(client, location, data, 0)
    assert client.put(location, params={"digest": digest_of(data)}).status_code == 201
    late = client.patch(location, content=b"late", headers={"Content-Range": "8-11"})
    assert late.status_code == 404
    assert error_code(late) == "BLOB_UPLOAD_UNKNOWN"
    again = client.put(location, params={"digest": digest_of(data)})
    assert again.status_code == 404
    assert error_code(again) == "BLOB_UPLOAD_UNKNOWN"
    assert read_blob(client, REPO, digest_of(data)) == data


def test_wrong_digest_on_put_is_digest_invalid_and_nothing_is_readable(
    client: TestClient,
) -> None:
    data, claimed = b"actual bytes", b"other bytes"
    location = start_session(client)
    patch_chunk(client, location, data, 0)
    response = client.put(location, params={"digest": digest_of(claimed)})
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    for digest in (digest_of(claimed), digest_of(data)):
        gone = client.get(f"/v2/{REPO}/blobs/{digest}")
        assert gone.status_code == 404
        assert error_code(gone) == "BLOB_UNKNOWN"
    assert client.get(location).status_code == 404


def test_wrong_digest_on_monolithic_post_is_digest_invalid(client: TestClient) -> None:
    claimed = digest_of(b"something else")
    response = client.post(
        f"/v2/{REPO}/blobs/uploads/", params={"digest": claimed}, content=b"actual"
    )
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert client.head(f"/v2/{REPO}/blobs/{claimed}").status_code == 404


def test_truncated_upload_is_digest_invalid(client: TestClient) -> None:
    data = b"a blob of which only half arrives"
    location = start_session(client)
    patch_chunk(client, location, data[:10], 0)
    response = client.put(location, params={"digest": digest_of(data)})
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert client.head(f"/v2/{REPO}/blobs/{digest_of(data)}").status_code == 404


def test_sha512_digests_work_for_monolithic_and_chunked_uploads(client: TestClient) -> None:
    whole = b"sha512 monolithic"
    digest = digest_of(whole, "sha512")
    response = client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, content=whole)
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    head = client.head(f"/v2/{REPO}/blobs/{digest}")
    assert head.headers["Docker-Content-Digest"] == digest
    assert read_blob(client, REPO, digest) == whole

    chunked = b"sha512 in two chunks"
    location = start_session(client)
    patch_chunk(client, location, chunked[:7], 0)
    patch_chunk(client, location, chunked[7:], 7)
    digest = f"sha512:{hashlib.sha512(chunked).hexdigest()}"
    assert client.put(location, params={"digest": digest}).status_code == 201
    assert read_blob(client, REPO, digest) == chunked


def test_unknown_upload_id_is_upload_unknown(client: TestClient) -> None:
    start_session(client)  # the repository exists; the id does not
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = client.request(
            method,
            f"/v2/{REPO}/blobs/uploads/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            params={"digest": digest_of(b"")} if method == "PUT" else None,
        )
        assert response.status_code == 404, method
        assert error_code(response) == "BLOB_UPLOAD_UNKNOWN", method


def test_upload_of_another_repository_is_unknown_here(client: TestClient) -> None:
    location = start_session(client, "team/owner")
    upload_id = location.rsplit("/", 1)[1]
    patch_chunk(client, location, b"owned", 0)
    foreign = f"/v2/team/thief/blobs/uploads/{upload_id}"
    start_session(client, "team/thief")
    for response in (
        client.get(foreign),
        client.patch(foreign, content=b"x", headers={"Content-Range": "5-5"}),
        client.put(foreign, params={"digest": digest_of(b"owned")}),
        client.delete(foreign),
    ):
        assert response.status_code == 404
        assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"
    assert client.get(location).headers["Range"] == "0-4"


@pytest.mark.parametrize(
    "upload_id",
    [
        "%2E%2E",
        "..%2F..%2Fetc",
        "short",
        "a" * 65,
        "has.dot.in.it",
        "sp%20ace%20here",
        "nul%00x123",
    ],
)
def test_malformed_upload_ids_are_404_not_500(client: TestClient, upload_id: str) -> None:
    start_session(client)
    url = f"/v2/{REPO}/blobs/uploads/{upload_id}"
    for response in (client.get(url), client.patch(url, content=b"x"), client.delete(url)):
        assert response.status_code == 404, response.text
        assert "errors" in response.json()


def test_single_segment_malformed_upload_id_reaches_handler_as_upload_unknown(
    client: TestClient,
) -> None:
    start_session(client)
    response = client.get(f"/v2/{REPO}/blobs/uploads/%2E%2E")
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


def test_cross_repository_mount_links_blob_into_target(client: TestClient) -> None:
    data = b"shared base layer"
    digest = push_blob(client, "team/source", data)
    response = client.post(
        "/v2/team/target/blobs/uploads/", params={"mount": digest, "from": "team/source"}
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v2/team/target/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    assert read_blob(client, "team/target", digest) == data


def test_mount_of_digest_missing_from_source_opens_a_session(client: TestClient) -> None:
    push_blob(client, "team/source", b"something else")
    absent = digest_of(b"never pushed")
    response = client.post(
        "/v2/team/target/blobs/uploads/", params={"mount": absent, "from": "team/source"}
    )
    assert response.status_code == 202
    location = response.headers["Location"]
    assert location.startswith("/v2/team/target/blobs/uploads/")
    assert client.get(location).status_code == 204
    assert client.head(f"/v2/team/target/blobs/{absent}").status_code == 404


def test_mount_from_unknown_repository_opens_a_session(client: TestClient) -> None:
    digest = push_blob(client, "team/source", b"layer")
    response = client.post(
        "/v2/team/target/blobs/uploads/", params={"mount": digest, "from": "team/nowhere"}
    )
    assert response.status_code == 202
    assert client.head(f"/v2/team/target/blobs/{digest}").status_code == 404


def test_mount_without_from_opens_a_session(client: TestClient) -> None:
    digest = push_blob(client, "team/source", b"layer")
    response = client.post("/v2/team/target/blobs/uploads/", params={"mount": digest})
    assert response.status_code == 202
    assert client.head(f"/v2/team/target/blobs/{digest}").status_code == 404


def test_mount_with_invalid_from_name_is_name_invalid(client: TestClient) -> None:
    digest = push_blob(client, "team/source", b"layer")
    response = client.post(
        "/v2/team/target/blobs/uploads/", params={"mount": digest, "from": "Team/SOURCE"}
    )
    assert response.status_code == 400
    assert error_code(response) == "NAME_INVALID"
    assert client.head(f"/v2/team/target/blobs/{digest}").status_code == 404


def test_upload_resumes_in_a_new_app_instance(settings: Settings) -> None:
    data = b"x" * 70_000 + b"y" * 50_000
    with TestClient(create_app(settings), base_url="http://localhost") as first:
        location = start_session(first)
        patch_chunk(first, location, data[:70_000], 0)
    with TestClient(create_app(settings), base_url="http://localhost") as second:
        assert second.get(location).headers["Range"] == "0-69999"
        patch_chunk(second, location, data[70_000:100_000], 70_000)
        response = second.put(location, params={"digest": digest_of(data)}, content=data[100_000:])
        assert response.status_code == 201, response.text
        assert read_blob(second, REPO, digest_of(data)) == data
