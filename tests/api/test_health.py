"""Load-balancer probes."""

from __future__ import annotations

import shutil

from starlette.testclient import TestClient

from portside.config import Settings


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
