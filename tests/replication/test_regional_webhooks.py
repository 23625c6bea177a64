"""Regional webhooks in two locations in this process (westeurope, eastus over one SQLite
database, as tests/replication/test_locations.py): a webhook scoped to a location gets its
push event once the image is complete there (docs/events.md#regional-webhooks)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import LocationSettings, Settings
from portside.metadata.migrate import upgrade
from tests.backends.postgres import BACKENDS, empty_database
from tests.management_harness import basic
from tests.registry_client import push_image

ADMIN = "regional-admin-7Kp"
AUTH = basic("admin", ADMIN)
REGISTRY = "/api/v1/registries/default"
HOOKS = f"{REGISTRY}/webhooks"


def _settings(tmp_path: Path, database_url: str, here: str, other: str) -> Settings:
    return Settings(
        data_dir=tmp_path / here,
        database_url=database_url,
        storage_path=tmp_path / here / "blobs",
        location=here,
        locations={other: LocationSettings(storage_path=tmp_path / other / "blobs")},
        admin_password=ADMIN,
        replication_poll_seconds=0.2,
        gc_interval_seconds=0,
        lifecycle_interval_seconds=0,
        webhook_poll_seconds=0,  # events stay in the outbox, where list-events shows them
        allow_private_network_targets=True,
    )


@pytest.fixture(params=BACKENDS)
def clients(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[TestClient, TestClient]]:
    """Both locations' apps over one database (the release query runs on each backend)."""
    with empty_database(request.param, request.config, tmp_path) as url:
        yield from _both(tmp_path, url)


def _both(tmp_path: Path, url: str) -> Iterator[tuple[TestClient, TestClient]]:
    west = _settings(tmp_path, url, "westeurope", "eastus")
    east = _settings(tmp_path, url, "eastus", "westeurope")
    upgrade(west.resolved_database_url())
    with (
        TestClient(create_app(west), base_url="http://localhost") as a,
        TestClient(create_app(east), base_url="http://localhost") as b,
    ):
        yield a, b


def _hook(client: TestClient, name: str, location: str | None) -> None:
    body: dict[str, Any] = {
        "name": name,
        "serviceUri": "http://127.0.0.1:9/hook",
        "actions": ["push", "delete"],
    }
    if location is not None:
        body["location"] = location
    created = client.post(HOOKS, json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json().get("location") == location  # absent without one


def _events(client: TestClient, name: str) -> list[dict[str, Any]]:
    answer = client.get(f"{HOOKS}/{name}/events", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _wait(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_regional_webhook_fires_once_the_image_is_complete_there(
    clients: tuple[TestClient, TestClient],
) -> None:
    a, b = clients
    replicated = a.post(f"{REGISTRY}/replications", json={"location": "westeurope"}, headers=AUTH)
    assert replicated.status_code == 201
    _hook(a, "everywhere", None)
    _hook(a, "ineastus", "eastus")
    _hook(b, "inwesteurope", "westeurope")

    a.headers["X-Request-Id"] = "req-regional"
    layer = b"regional layer" * 10_000
    digest, body = push_image(a, "app", "v1", layers=[layer])

    # Without a location: at push, in the push's transaction.
    [at_push] = _events(a, "everywhere")
    assert at_push["action"] == "push"
    # Pushed in westeurope: complete there at once, the event comes on the worker's next pass.
    _wait(lambda: len(_events(a, "inwesteurope")) == 1)
    # eastus is not a replication yet: nothing copies the bytes there, nothing fires.
    time.sleep(1.0)
    assert _events(b, "ineastus") == []

    added = a.post(f"{REGISTRY}/replications", json={"location": "eastus"}, headers=AUTH)
    assert added.status_code == 201
    _wait(lambda: len(_events(b, "ineastus")) == 1)
    complete = a.get(f"{REGISTRY}/replications/status", params={"image": "app:v1"}, headers=AUTH)
    eastus = [s for s in complete.json()["locations"] if s["location"] == "eastus"]
    assert eastus[0]["complete"] is True
    time.sleep(1.0)  # more passes of the worker: still exactly one
    [regional] = _events(b, "ineastus")
    payload = regional["requestContent"]
    assert payload["id"] == regional["id"] != at_push["id"]
    assert payload["action"] == "push"
    assert payload["target"] == {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "size": len(body),
        "digest": digest,
        "length": len(body),
        "repository": "app",
        "tag": "v1",
    }
    assert payload["request"]["id"] == "req-regional"
    assert payload["request"]["method"] == "PUT"
    assert set(payload) == {"id", "timestamp", "action", "target", "request", "actor"}
    assert regional["state"] == "pending"

    # Deletes fire at once for every webhook (metadata is shared).
    assert a.delete(f"/v2/app/manifests/{digest}").status_code == 202
    for client, name in ((a, "everywhere"), (b, "ineastus"), (a, "inwesteurope")):
        assert [e["action"] for e in _events(client, name)] == ["delete", "push"]


def test_a_push_deleted_before_it_is_complete_fires_no_regional_push(
    clients: tuple[TestClient, TestClient],
) -> None:
    a, b = clients
    _hook(a, "ineastus", "eastus")
    digest, _ = push_image(a, "app", "v1", layers=[b"never replicated"])
    assert a.delete(f"/v2/app/manifests/{digest}").status_code == 202
    added = a.post(f"{REGISTRY}/replications", json={"location": "eastus"}, headers=AUTH)
    assert added.status_code == 201
    time.sleep(1.0)
    assert [e["action"] for e in _events(b, "ineastus")] == ["delete"]


def test_a_webhook_location_must_be_known(clients: tuple[TestClient, TestClient]) -> None:
    a, _ = clients
    body = {"name": "onmars", "serviceUri": "http://127.0.0.1:9/", "actions": ["push"]}
    unknown = a.post(HOOKS, json={**body, "location": "mars"}, headers=AUTH)
    assert unknown.status_code == 400 and "mars" in unknown.text
    _hook(a, "moved", None)
    moved = a.patch(f"{HOOKS}/moved", json={"location": "mars"}, headers=AUTH)
    assert moved.status_code == 400
    moved = a.patch(f"{HOOKS}/moved", json={"location": "eastus"}, headers=AUTH)
    assert moved.status_code == 200 and moved.json()["location"] == "eastus"
    cleared = a.patch(f"{HOOKS}/moved", json={"location": ""}, headers=AUTH)
    assert cleared.status_code == 200 and cleared.json().get("location") is None
