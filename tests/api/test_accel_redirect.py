"""`accel_redirect_prefix`: a plain blob GET answers X-Accel-Redirect for nginx to send the file,
after access control; HEAD, ranges and other drivers are answered as before."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.migrate import upgrade
from tests.registry_client import push_image

PREFIX = "/_portside_storage/"
LAYER = bytes(range(256)) * 4096  # 1 MiB
DIGEST = "sha256:" + hashlib.sha256(LAYER).hexdigest()


def _client(settings: Settings) -> TestClient:
    upgrade(settings.resolved_database_url())
    return TestClient(create_app(settings), base_url="http://localhost")


@pytest.fixture
def accel(tmp_path: Path) -> Iterator[TestClient]:
    """A registry told to hand file blobs to nginx, with one image pushed."""
    with _client(Settings(data_dir=tmp_path / "data", accel_redirect_prefix=PREFIX)) as client:
        push_image(client, "team/app", "v1", layers=[LAYER])
        yield client


def test_get_hands_the_file_to_the_proxy(accel: TestClient, tmp_path: Path) -> None:
    answer = accel.get(f"/v2/team/app/blobs/{DIGEST}")
    assert answer.status_code == 200
    assert answer.content == b""
    hexdigest = DIGEST.removeprefix("sha256:")
    key = f"blobs/sha256/{hexdigest[:2]}/{hexdigest}"
    assert answer.headers["X-Accel-Redirect"] == PREFIX + key
    # The documented nginx location aliases the storage root: the key names the blob's file.
    assert (tmp_path / "data" / "blobs" / key).read_bytes() == LAYER
    assert answer.headers["Docker-Content-Digest"] == DIGEST
    assert answer.headers["ETag"] == f'"{DIGEST}"'
    assert answer.headers["Content-Length"] == "0"  # nginx sets the file's length


def test_head_and_ranges_are_answered_by_portside(accel: TestClient) -> None:
    head = accel.head(f"/v2/team/app/blobs/{DIGEST}")
    assert head.status_code == 200 and "X-Accel-Redirect" not in head.headers
    assert head.headers["Content-Length"] == str(len(LAYER))
    ranged = accel.get(f"/v2/team/app/blobs/{DIGEST}", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == LAYER[10:20]
    assert "X-Accel-Redirect" not in ranged.headers


def test_access_is_decided_before_the_redirect(accel: TestClient) -> None:
    elsewhere = accel.get(f"/v2/team/other/blobs/{DIGEST}")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    assert "X-Accel-Redirect" not in elsewhere.headers


def test_off_by_default_and_only_for_files(tmp_path: Path) -> None:
    with _client(Settings(data_dir=tmp_path / "data")) as client:
        push_image(client, "team/app", "v1", layers=[LAYER])
        answer = client.get(f"/v2/team/app/blobs/{DIGEST}")
        assert answer.content == LAYER and "X-Accel-Redirect" not in answer.headers
    memory = Settings(
        data_dir=tmp_path / "memory", storage_driver="memory", accel_redirect_prefix=PREFIX
    )
    with _client(memory) as client:
        push_image(client, "team/app", "v1", layers=[LAYER])
        answer = client.get(f"/v2/team/app/blobs/{DIGEST}")
        assert answer.content == LAYER and "X-Accel-Redirect" not in answer.headers


@pytest.mark.parametrize("prefix", ["_storage/", "/storage", "/a b/", "http://x/"])
def test_a_prefix_must_be_an_absolute_path_ending_in_a_slash(prefix: str) -> None:
    with pytest.raises(ValidationError):
        Settings(accel_redirect_prefix=prefix)
