"""Quotas on the data plane: pushes past the storage or repositories quota are refused with
DENIED and leave nothing behind; usage as the management API and /acr/v1 report it.

The app runs with a configured administrator password, so quota overrides are set through the
management API on the same server, as an operator would.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from portside.config import Settings
from portside.metadata.migrate import upgrade
from portside.metadata.schema import blobs, uploads
from tests.registry_client import digest_of, error_code, push_blob, push_image

ADMIN = "quota-admin-password"
REPO = "team/app"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-default settings with a configured administrator password."""
    settings = Settings(data_dir=tmp_path / "data", admin_password=ADMIN)
    upgrade(settings.resolved_database_url())
    return settings


def _admin() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN}".encode()).decode()}


def set_quotas(client: TestClient, **fields: int | None) -> dict[str, Any]:
    """PATCH quota overrides of the default registry (`quotaStorageBytes=...`)."""
    response = client.patch("/api/v1/registries/default", headers=_admin(), json=fields)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def usage(client: TestClient) -> dict[str, Any]:
    """The default registry's usage from the management API."""
    response = client.get("/api/v1/registries/default/usage", headers=_admin())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def scalar(client: TestClient, statement: Any) -> Any:
    """One value read from the app's own database."""

    async def run() -> Any:
        async with client.app.state.portside.database.read() as conn:  # type: ignore[attr-defined]
            return await conn.scalar(statement)

    assert client.portal is not None
    return client.portal.call(run)


def files_named(root: Path, name: str) -> list[Path]:
    """Files under `root` whose name is `name` (a blob's hex digest)."""
    return [path for path in root.rglob(name) if path.is_file()] if root.exists() else []


def assert_denied(response: Any, words: str) -> None:
    """403 DENIED whose message contains `words`."""
    assert response.status_code == 403, response.text
    assert error_code(response) == "DENIED"
    assert words in response.json()["errors"][0]["message"]


def test_a_blob_past_the_storage_quota_is_denied_and_leaves_nothing_behind(
    client: TestClient, settings: Settings
) -> None:
    kept = b"k" * 60
    push_blob(client, REPO, kept)
    set_quotas(client, quotaStorageBytes=100)
    before = usage(client)
    assert before["storage"] == {"used": 60, "limit": 100}

    big = b"b" * 50
    digest = digest_of(big)
    monolithic = client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, content=big)
    assert_denied(monolithic, "storage quota of 100 bytes")
    assert monolithic.json()["errors"][0]["detail"] == {"quota": "storage_bytes", "limit": 100}
    started = client.post(f"/v2/{REPO}/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["Location"]
    assert client.patch(location, content=big).status_code == 202
    assert_denied(client.put(location, params={"digest": digest}), "storage quota")

    assert usage(client) == before
    assert client.get(f"/acr/v1/{REPO}").json()["storageBytes"] == 60
    assert client.head(f"/v2/{REPO}/blobs/{digest}").status_code == 404
    assert scalar(client, select(func.count()).where(blobs.c.digest == digest)) == 0
    assert scalar(client, select(func.count()).select_from(uploads)) == 0
    root = settings.resolved_storage_path()
    upload_dir = root / "uploads"
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []
    # No committed bytes either: the push is refused before its bytes are put in place
    # (services/content/uploads.py commits them inside the recording transaction).
    assert files_named(root, digest.split(":")[1]) == []
    assert files_named(root, digest_of(kept).split(":")[1]) != []

    # A blob the registry holds already costs nothing, even at the limit; one that fits
    # exactly is accepted.
    push_blob(client, "team/other", kept)
    push_blob(client, REPO, b"f" * 40)
    assert usage(client)["storage"] == {"used": 100, "limit": 100}
    assert_denied(
        client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest_of(b"x")}, content=b"x"),
        "storage quota",
    )
    set_quotas(client, quotaStorageBytes=None)
    push_blob(client, REPO, big)
    assert usage(client)["storage"]["used"] == 150


def test_a_new_repository_past_the_repositories_quota_is_denied(client: TestClient) -> None:
    push_image(client, "one", "v1", layers=[b"one"])
    push_image(client, "two", "v1", layers=[b"two"])
    assert set_quotas(client, quotaRepositories=2)["quotaRepositories"] == 2
    assert_denied(client.post("/v2/three/blobs/uploads/"), "repositories quota of 2")
    assert_denied(
        client.post("/v2/three/blobs/uploads/", params={"mount": digest_of(b"one"), "from": "one"}),
        "repositories quota",
    )
    assert client.get("/v2/_catalog").json()["repositories"] == ["one", "two"]
    assert usage(client)["repositories"] == {"used": 2, "limit": 2}
    push_image(client, "two", "v1")  # existing repositories still take pushes
    set_quotas(client, quotaRepositories=None)
    push_blob(client, "three", b"three")
    assert usage(client)["repositories"] == {"used": 3, "limit": None}


def test_storage_bytes_of_repositories_and_of_the_registry(client: TestClient) -> None:
    shared = b"s" * 1000
    expected, configs = {}, set()
    for repo, own in (("team/a", b"a" * 10), ("team/b", b"b" * 20)):
        _, body = push_image(client, repo, "v1", layers=[shared, own])
        manifest = json.loads(body)
        configs.add((manifest["config"]["digest"], manifest["config"]["size"]))
        expected[repo] = sum(d["size"] for d in [manifest["config"], *manifest["layers"]])
    for repo, size in expected.items():
        assert client.get(f"/acr/v1/{repo}").json()["storageBytes"] == size
    # The registry counts the shared layer (and the identical config) once; manifests are
    # kept in the database and do not count.
    assert len(configs) == 1
    total = usage(client)["storage"]["used"]
    assert total == next(iter(configs))[1] + 1000 + 10 + 20
    shown = client.get("/api/v1/registries/default", headers=_admin()).json()
    assert shown["storageBytes"] == total
