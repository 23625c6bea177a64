"""The shortest round trip through the API: push an image, pull it back."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.registry_client import OCI_MANIFEST, push_image


def test_version_check_answers_with_api_version(client: TestClient) -> None:
    response = client.get("/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_push_then_pull_by_tag_and_digest(client: TestClient) -> None:
    digest, body = push_image(client, "warrantydept/customersubmissions/web", "v1")
    by_tag = client.get("/v2/warrantydept/customersubmissions/web/manifests/v1")
    assert by_tag.status_code == 200
    assert by_tag.content == body
    assert by_tag.headers["Content-Type"] == OCI_MANIFEST
    assert by_tag.headers["Docker-Content-Digest"] == digest
    by_digest = client.get(f"/v2/warrantydept/customersubmissions/web/manifests/{digest}")
    assert by_digest.content == body
