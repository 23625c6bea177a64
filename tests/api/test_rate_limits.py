"""Request rate limits over HTTP: overrides set through the management API, 429
TOOMANYREQUESTS with Retry-After on /v2/ and /acr/v1, and the metrics of refusals."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.migrate import upgrade
from tests.management_harness import API, basic, management_harness

PASSWORD = uuid.uuid4().hex
ADMIN = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}
ACME = {"Host": "acme.localhost"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The embedded default, with a known administrator password."""
    settings = Settings(data_dir=tmp_path / "data", admin_password=PASSWORD)
    upgrade(settings.resolved_database_url())
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app, with registry `acme` (Standard)."""
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        created = test_client.post("/api/v1/registries", headers=ADMIN, json={"name": "acme"})
        assert created.status_code == 201, created.text
        yield test_client


def _limit(client: TestClient, registry: str = "acme", **fields: object) -> dict[str, object]:
    answer = client.patch(f"/api/v1/registries/{registry}", headers=ADMIN, json=fields)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_a_registry_shows_its_sku_limits_and_overrides(client: TestClient) -> None:
    # Null fields are left out of the answer: no override, or (for a limit) unlimited.
    shown = client.get("/api/v1/registries/acme", headers=ADMIN).json()
    assert "readOpsPerMinute" not in shown and "writeOpsPerMinute" not in shown
    assert shown["readOpsPerMinuteLimit"] == 3_000
    assert shown["writeOpsPerMinuteLimit"] == 500
    body = _limit(client, readOpsPerMinute=0, writeOpsPerMinute=42, sku="Premium")
    assert body["readOpsPerMinute"] == 0 and "readOpsPerMinuteLimit" not in body
    assert body["writeOpsPerMinuteLimit"] == 42
    body = _limit(client, writeOpsPerMinute=None)
    assert "writeOpsPerMinute" not in body and body["writeOpsPerMinuteLimit"] == 2_000
    default = client.get("/api/v1/registries/default", headers=ADMIN).json()
    assert "readOpsPerMinuteLimit" not in default, "the default registry has no SKU limits"
    assert "writeOpsPerMinuteLimit" not in default


def test_bad_overrides_are_refused(client: TestClient) -> None:
    for bad in (-1, 1 << 31, "many", 1.5):
        answer = client.patch(
            "/api/v1/registries/acme", headers=ADMIN, json={"readOpsPerMinute": bad}
        )
        assert answer.status_code == 400, answer.text


def test_reads_over_the_limit_get_429_with_retry_after(client: TestClient) -> None:
    _limit(client, readOpsPerMinute=3)
    # Anonymous reads count too (401s here): the limit protects the registry, not a caller.
    statuses = [client.get("/v2/", headers=ACME).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    refused = client.get("/v2/app/manifests/v1", headers=ACME)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    error = refused.json()["errors"][0]
    assert error["code"] == "TOOMANYREQUESTS"
    assert "reads per minute" in error["message"]
    # /acr/v1 is counted with /v2/; writes are counted apart, the default registry not at all.
    assert client.get("/acr/v1/_catalog", headers=ACME).status_code == 429
    assert client.delete("/v2/app/manifests/v1", headers=ACME).status_code == 401
    assert client.get("/v2/").status_code == 200


def test_writes_over_the_limit_get_429(client: TestClient) -> None:
    _limit(client, writeOpsPerMinute=1)
    assert client.post("/v2/app/blobs/uploads/", headers=ACME).status_code == 401
    refused = client.put("/v2/app/manifests/v1", headers=ACME, content=b"{}")
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert "writes per minute" in refused.json()["errors"][0]["message"]
    assert client.get("/v2/", headers=ACME).status_code == 401, "reads are not used up"


def test_unlimited_and_lifted_limits(client: TestClient) -> None:
    _limit(client, readOpsPerMinute=1)
    assert client.get("/v2/", headers=ACME).status_code == 401
    assert client.get("/v2/", headers=ACME).status_code == 429
    _limit(client, readOpsPerMinute=0)
    assert all(client.get("/v2/", headers=ACME).status_code == 401 for _ in range(5))


def test_the_default_registry_can_be_limited_too(client: TestClient) -> None:
    _limit(client, "default", writeOpsPerMinute=1)
    assert client.post("/v2/app/blobs/uploads/").status_code == 202
    assert client.post("/v2/app/blobs/uploads/").status_code == 429


def test_refusals_are_counted_in_the_metrics(client: TestClient) -> None:
    _limit(client, readOpsPerMinute=1)
    for _ in range(3):
        client.get("/v2/", headers=ACME)
    text = client.get("/metrics").text
    assert 'portside_rate_limited_requests_total{kind="read"} 2.0' in text
    assert 'portside_throttled_requests_total{route="/v2/"} 2.0' in text


def test_only_the_administrator_changes_rate_limits(settings: Settings) -> None:
    # The harness reads the password the server generates.
    with management_harness(settings.model_copy(update={"admin_password": None})) as mgmt:
        created = mgmt.client.post(f"{API}/registries", headers=mgmt.admin, json={"name": "tt"})
        assert created.status_code == 201, created.text
        principal, secret = mgmt.create_principal()
        mgmt.assign("tt", "Contributor", principal)
        # A registry's own managers may change its settings, not the limits set on it.
        refused = mgmt.client.patch(
            f"{API}/registries/tt", headers=basic(principal, secret), json={"readOpsPerMinute": 0}
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "AuthorizationFailed"
        assert "rate limits" in refused.json()["error"]["message"]
        shown = mgmt.client.get(f"{API}/registries/tt", headers=mgmt.admin).json()
        assert shown["readOpsPerMinuteLimit"] == 3_000
