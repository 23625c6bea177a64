"""The whole API on the object-storage drivers: push, pull, resume, and presigned redirects."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.migrate import upgrade
from tests.backends.azurite import Azurite
from tests.backends.seaweedfs import ACCESS_KEY, SECRET_KEY, SeaweedFS
from tests.conftest import BUCKET
from tests.registry_client import push_image


def backend_settings(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> dict[str, Any]:
    """Settings that put blobs on the session's emulator for `kind`."""
    if kind == "s3":
        server: SeaweedFS = request.getfixturevalue("seaweedfs")
        return {
            "storage_driver": "s3",
            "s3_bucket": BUCKET,
            "s3_endpoint_url": server.endpoint_url,
            "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SECRET_KEY,
            "s3_addressing_style": "path",
            "s3_prefix": f"api-{uuid.uuid4().hex[:12]}",
            "s3_part_size": 5 << 20,
        }
    azurite: Azurite = request.getfixturevalue("azurite")
    from azure.storage.blob import BlobServiceClient

    container = f"api-{uuid.uuid4().hex[:12]}"
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        service.create_container(container)
    return {
        "storage_driver": "azure",
        "azure_container": container,
        "azure_connection_string": azurite.connection_string,
        "azure_block_size": 1 << 20,
    }


@pytest.fixture(params=["s3", "azure"])
def object_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Embedded metadata, blobs in an object store."""
    settings = Settings(
        data_dir=tmp_path / "data", **backend_settings(request, request.param, tmp_path)
    )
    upgrade(settings.resolved_database_url())
    return settings


@pytest.fixture
def object_client(object_settings: Settings) -> Iterator[TestClient]:
    """An in-process app on that storage."""
    with TestClient(create_app(object_settings), base_url="http://localhost") as client:
        yield client


def test_image_round_trip(object_client: TestClient) -> None:
    layer = bytes(range(256)) * 8192  # 2 MiB, several blocks on Azure
    _, body = push_image(object_client, "team/app", "v1", layers=[layer])
    assert object_client.get("/v2/team/app/manifests/v1").content == body
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    pulled = object_client.get(f"/v2/team/app/blobs/{layer_digest}")
    assert pulled.status_code == 200
    assert pulled.content == layer
    ranged = object_client.get(
        f"/v2/team/app/blobs/{layer_digest}", headers={"Range": "bytes=10-19"}
    )
    assert ranged.status_code == 206 and ranged.content == layer[10:20]


def test_upload_continues_on_another_node(object_settings: Settings) -> None:
    data = b"x" * (6 << 20) + b"tail"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with TestClient(create_app(object_settings), base_url="http://localhost") as first:
        location = first.post("/v2/team/resume/blobs/uploads/").headers["Location"]
        first.patch(
            location, content=data[: 3 << 20], headers={"Content-Range": f"0-{(3 << 20) - 1}"}
        )
    with TestClient(
        create_app(object_settings), base_url="http://localhost"
    ) as second:  # no memory shared with `first`
        status = second.get(location)
        assert status.headers["Range"] == f"0-{(3 << 20) - 1}"
        done = second.put(location, params={"digest": digest}, content=data[3 << 20 :])
        assert done.status_code == 201, done.text
        assert second.get(f"/v2/team/resume/blobs/{digest}").content == data


def test_blob_get_redirects_to_a_presigned_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        blob_redirect_seconds=300,
        **backend_settings(request, "s3", tmp_path),
    )
    upgrade(settings.resolved_database_url())
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        push_image(client, "team/redirect", "v1", layers=[b"redirected bytes"])
        layer = "sha256:" + hashlib.sha256(b"redirected bytes").hexdigest()
        response = client.get(f"/v2/team/redirect/blobs/{layer}", follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["Docker-Content-Digest"] == layer
        assert httpx.get(response.headers["Location"]).content == b"redirected bytes"
        # HEAD still answers from Portside, with the size.
        head = client.head(f"/v2/team/redirect/blobs/{layer}")
        assert head.status_code == 200 and head.headers["Content-Length"] == "16"
