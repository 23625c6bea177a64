"""The open development registry is open to loopback names only.

While the server listens on loopback, the default registry takes anonymous push and pull. A
request reaching that socket under another name came through something else: a web page whose
name was rebound to 127.0.0.1 (DNS rebinding: the browser sends the page's own name), or a
reverse proxy on the same machine passing its public name on. Either would open the registry
to whoever is behind it, so those requests need credentials like any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.migrate import upgrade

LOOPBACK = ["localhost:5000", "127.0.0.1:5000", "127.0.0.2", "[::1]:5000", "localhost"]
ELSEWHERE = ["attacker.example:5000", "attacker.example", "192.168.1.10:5000", "registry"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The embedded default: listening on 127.0.0.1, anonymous loopback access on."""
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("loopback")) / "data")
    upgrade(settings.resolved_database_url())
    assert settings.listens_on_loopback() and settings.anonymous_loopback
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_names_reach_the_open_registry(client: TestClient, host: str) -> None:
    assert client.get("/v2/", headers={"host": host}).status_code == 200
    started = client.post("/v2/dev/app/blobs/uploads/", headers={"host": host})
    assert started.status_code == 202, started.text


@pytest.mark.parametrize("host", ELSEWHERE)
def test_other_names_need_credentials(client: TestClient, host: str) -> None:
    assert client.get("/v2/", headers={"host": host}).status_code == 401
    refused = client.post("/v2/dev/app/blobs/uploads/", headers={"host": host})
    assert refused.status_code == 401
    assert client.get("/v2/_catalog", headers={"host": host}).status_code == 401


@pytest.mark.parametrize("host", ELSEWHERE)
def test_other_names_get_no_anonymous_token(client: TestClient, host: str) -> None:
    asked = {"service": host, "scope": "repository:dev/app:pull,push,delete"}
    answer = client.get("/oauth2/token", params=asked, headers={"host": host})
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    refused = client.post(
        "/v2/dev/app/blobs/uploads/",
        headers={"host": host, "authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 401
