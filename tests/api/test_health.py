"""Load-balancer probes."""

from __future__ import annotations

import base64
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from azure.storage.blob import BlobServiceClient
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.api.health import CHECK_SECONDS, _bounded
from portside.config import Settings
from portside.metadata.migrate import upgrade
from tests.backends.azurite import Azurite
from tests.backends.seaweedfs import ACCESS_KEY, SECRET_KEY, SeaweedFS
from tests.conftest import BUCKET


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_and_storage(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "storage": "ok"}


def test_readyz_fails_when_the_storage_root_is_gone(client: TestClient, settings: Settings) -> None:
    root = settings.resolved_storage_path()
    shutil.rmtree(root)
    root.write_text("not a directory")  # stat below it now fails with NotADirectoryError
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["storage"] == "unreachable"
    assert response.json()["database"] == "ok"


def test_a_failing_blob_store_answers_503_not_a_traceback(
    client: TestClient, settings: Settings
) -> None:
    root = settings.resolved_storage_path()
    shutil.rmtree(root)
    root.write_text("not a directory")  # every storage call below the root now fails
    response = client.post("/v2/team/app/blobs/uploads/")
    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "UNAVAILABLE"


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _s3(endpoint: str, bucket: str) -> dict[str, Any]:
    return {
        "storage_driver": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": endpoint,
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SECRET_KEY,
        "s3_addressing_style": "path",
    }


def _azure(connection_string: str, container: str) -> dict[str, Any]:
    return {
        "storage_driver": "azure",
        "azure_container": container,
        "azure_connection_string": connection_string,
    }


def _readyz(tmp_path: Path, storage: dict[str, Any]) -> tuple[httpx.Response, float]:
    """GET /readyz of an app on `storage` (embedded metadata) and how long it took."""
    settings = Settings(data_dir=tmp_path / "data", **storage)
    upgrade(settings.resolved_database_url())
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        started = time.monotonic()
        response = client.get("/readyz")
        return response, time.monotonic() - started


@pytest.fixture(params=["s3", "azure"])
def missing_store(request: pytest.FixtureRequest) -> tuple[dict[str, Any], str]:
    """Settings naming a bucket or container that does not exist, on a running emulator."""
    name = f"missing-{uuid.uuid4().hex[:12]}"
    if request.param == "s3":
        server: SeaweedFS = request.getfixturevalue("seaweedfs")
        return _s3(server.endpoint_url, name), f"bucket {name} does not exist"
    azurite: Azurite = request.getfixturevalue("azurite")
    return _azure(azurite.connection_string, name), f"container {name} does not exist"


def test_readyz_names_a_bucket_or_container_that_does_not_exist(
    tmp_path: Path, missing_store: tuple[dict[str, Any], str]
) -> None:
    storage, message = missing_store
    response, _ = _readyz(tmp_path, storage)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "storage": message}


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_readyz_is_ready_on_an_existing_bucket_or_container(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    if kind == "s3":
        storage = _s3(request.getfixturevalue("seaweedfs").endpoint_url, BUCKET)
    else:
        azurite: Azurite = request.getfixturevalue("azurite")
        container = f"ready-{uuid.uuid4().hex[:12]}"
        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            service.create_container(container)
        storage = _azure(azurite.connection_string, container)
    response, elapsed = _readyz(tmp_path, storage)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "database": "ok", "storage": "ok"}
    assert elapsed < 1.0, elapsed


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_readyz_answers_within_a_second_when_the_store_is_down(tmp_path: Path, kind: str) -> None:
    """A closed port: without a bounded, retry-free probe the SDKs' retries took 4.5-13 s."""
    port = _closed_port()
    if kind == "s3":
        storage = _s3(f"http://127.0.0.1:{port}", "any")
    else:
        connection = (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
            + base64.b64encode(b"k" * 32).decode()
            + f";BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )
        storage = _azure(connection, "any")
    response, elapsed = _readyz(tmp_path, storage)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "storage": "unreachable"}
    assert elapsed < 1.0, elapsed


@pytest.mark.anyio
async def test_a_check_that_hangs_is_cut_at_the_deadline() -> None:
    """Whatever hangs (a black-holed address, a database that never answers) costs the deadline."""
    checks: dict[str, str] = {}

    async def hang() -> str:
        await anyio.sleep(60)
        return "ok"

    started = time.monotonic()
    await _bounded("database", hang, checks)
    assert checks == {"database": "unreachable"}
    assert time.monotonic() - started < CHECK_SECONDS + 0.2
