"""Two locations in this process: two apps (westeurope, eastus) over one SQLite database, each
with its own filesystem storage and the other's behind it (docs/geo-replication.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import LocationSettings, Settings
from portside.metadata.migrate import upgrade
from portside.runtime import Runtime
from portside.services.lifecycle.gc import GcReport
from tests.management_harness import basic
from tests.registry_client import OCI_MANIFEST, digest_of, push_image

ADMIN = "replication-admin-5Jq"
AUTH = basic("admin", ADMIN)
API = "/api/v1/registries/default/replications"


@dataclass
class Location:
    """One location's app and its storage folder."""

    name: str
    client: TestClient
    storage: Path

    def holds(self, digest: str) -> bool:
        """Whether this location's storage has the blob's bytes."""
        algorithm, hex_ = digest.split(":")
        return (self.storage / "blobs" / algorithm / hex_[:2] / hex_).is_file()

    def status(self, image: str | None = None) -> dict[str, Any]:
        """The replication status by location, as the management API answers it."""
        params = {"image": image} if image else {}
        answer = self.client.get(f"{API}/status", params=params, headers=AUTH)
        assert answer.status_code == 200, answer.text
        return {one["location"]: one for one in answer.json()["locations"]}


def located_settings(tmp_path: Path, here: str, other: str) -> Settings:
    """A node of location `here` (the other being `other`) over one shared SQLite file, each
    location with its own blob directory; jobs that would race the tests switched off."""
    return Settings(
        data_dir=tmp_path / here,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        storage_path=tmp_path / here / "blobs",
        location=here,
        locations={other: LocationSettings(storage_path=tmp_path / other / "blobs")},
        admin_password=ADMIN,
        replication_poll_seconds=0.2,
        gc_interval_seconds=0,
        lifecycle_interval_seconds=0,
        webhook_poll_seconds=0,
    )


@pytest.fixture
def locations(tmp_path: Path) -> Iterator[tuple[Location, Location]]:
    west = located_settings(tmp_path, "westeurope", "eastus")
    east = located_settings(tmp_path, "eastus", "westeurope")
    upgrade(west.resolved_database_url())
    with (
        TestClient(create_app(west), base_url="http://localhost") as a,
        TestClient(create_app(east), base_url="http://localhost") as b,
    ):
        yield (
            Location("westeurope", a, tmp_path / "westeurope" / "blobs"),
            Location("eastus", b, tmp_path / "eastus" / "blobs"),
        )


def _wait(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _replicate(a: Location, *names: str) -> None:
    for name in names or ("westeurope", "eastus"):
        created = a.client.post(API, json={"location": name}, headers=AUTH)
        assert created.status_code == 201, created.text


def test_replications_are_managed_and_checked(locations: tuple[Location, Location]) -> None:
    a, b = locations
    created = a.client.post(API, json={"location": "eastus"}, headers=AUTH)
    assert created.status_code == 201
    assert created.json()["regionEndpointEnabled"] is True
    again = a.client.post(API, json={"location": "eastus"}, headers=AUTH)
    assert again.status_code == 409
    unknown = a.client.post(API, json={"location": "mars"}, headers=AUTH)
    assert unknown.status_code == 400
    assert "mars" in unknown.text
    changed = b.client.patch(f"{API}/eastus", json={"regionEndpointEnabled": False}, headers=AUTH)
    assert changed.status_code == 200 and changed.json()["regionEndpointEnabled"] is False
    listed = b.client.get(API, headers=AUTH).json()
    assert [(r["location"], r["regionEndpointEnabled"]) for r in listed] == [("eastus", False)]
    assert b.client.delete(f"{API}/eastus", headers=AUTH).status_code == 204
    assert b.client.get(f"{API}/eastus", headers=AUTH).status_code == 404
    assert a.client.get(API, headers=AUTH).json() == []
    missing = a.client.get(f"{API}/status", params={"image": "nothing:here"}, headers=AUTH)
    assert missing.status_code == 404


def test_a_push_in_one_location_is_pulled_at_once_in_the_other_and_then_replicated(
    locations: tuple[Location, Location],
) -> None:
    a, b = locations
    _replicate(a, "westeurope")  # eastus joins after the first pull: no copy can come first
    layer = bytes(range(256)) * 8192  # 2 MiB
    digest, body = push_image(a.client, "app", "v1", layers=[layer])
    layer_digest = digest_of(layer)
    assert a.holds(layer_digest) and not b.holds(layer_digest)

    # Metadata is shared: the tag resolves in B at once; the bytes are read through.
    got = b.client.get("/v2/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert got.status_code == 200 and got.content == body
    pulled = b.client.get(f"/v2/app/blobs/{layer_digest}")
    assert pulled.status_code == 200 and pulled.content == layer
    assert b.holds(layer_digest)  # kept on the way
    assert not b.status("app:v1")["westeurope"]["pendingBytes"]

    _replicate(a, "eastus")
    # The config blob was not pulled in B: the worker copies it without any pull.
    _wait(lambda: all(s["complete"] for s in b.status(f"app@{digest}").values()))
    status = b.status("app:v1")
    assert status["eastus"]["pendingBytes"] == 0 and status["eastus"]["storage"] == "ok"
    backlog = a.status()
    assert backlog["eastus"]["blobs"] == 0 and backlog["westeurope"]["blobs"] == 0

    # A second image pushed in A reaches B with no pull at all.
    second = b"second layer" * 50_000
    push_image(a.client, "app", "v2", layers=[second])
    _wait(lambda: b.holds(digest_of(second)))
    _wait(lambda: b.status("app:v2")["eastus"]["complete"])

    # A tag moved in A is seen in B at once.
    moved, moved_body = push_image(a.client, "app", "v1", layers=[b"moved"])
    again = b.client.get("/v2/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert again.headers["Docker-Content-Digest"] == moved and again.content == moved_body
    tags = b.client.get("/v2/app/tags/list").json()["tags"]
    assert tags == a.client.get("/v2/app/tags/list").json()["tags"] == ["v1", "v2"]


def test_a_location_whose_storage_fails_is_reported_and_the_other_serves(
    locations: tuple[Location, Location],
) -> None:
    a, b = locations
    _replicate(a)
    layer = b"replicated before the outage" * 1000
    push_image(a.client, "app", "v1", layers=[layer])
    _wait(lambda: b.status("app:v1")["eastus"]["complete"])
    assert b.client.get("/readyz").json()["locations"] == {"westeurope": "ok"}

    # A's storage breaks: a file where its folder was.
    broken = a.storage.with_name("blobs-away")
    a.storage.rename(broken)
    a.storage.write_text("not a folder")
    try:
        ready_b = b.client.get("/readyz")
        assert ready_b.status_code == 200
        assert ready_b.json()["locations"] == {"westeurope": "unreachable"}
        ready_a = a.client.get("/readyz")
        assert ready_a.status_code == 503 and ready_a.json()["storage"] == "unreachable"
        pulled = b.client.get(f"/v2/app/blobs/{digest_of(layer)}")
        assert pulled.status_code == 200 and pulled.content == layer
        status = b.status("app:v1")
        assert status["westeurope"]["storage"] == "unreachable"
        assert status["eastus"]["complete"]
    finally:
        a.storage.unlink()
        broken.rename(a.storage)


def test_deleted_content_is_collected_in_every_location(
    locations: tuple[Location, Location], tmp_path: Path
) -> None:
    a, b = locations
    _replicate(a)
    layer = b"soon gone" * 1000
    digest, _ = push_image(a.client, "app", "v1", layers=[layer])
    _wait(lambda: b.status("app:v1")["eastus"]["complete"])
    assert a.holds(digest_of(layer)) and b.holds(digest_of(layer))
    deleted = a.client.delete(f"/v2/app/manifests/{digest}")
    assert deleted.status_code == 202
    assert b.client.get("/v2/app/manifests/v1").status_code == 404  # at once in B

    async def collect() -> GcReport:
        settings = located_settings(tmp_path, "westeurope", "eastus")
        async with Runtime(settings) as runtime:
            return await runtime.garbage_collector(grace=timedelta(0), pause=0).collect()

    report = anyio.run(collect)  # as `portside gc` does, in location westeurope
    assert report.blobs_removed >= 2
    assert not a.holds(digest_of(layer)) and not b.holds(digest_of(layer))
