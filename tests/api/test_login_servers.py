"""Loopback login servers over HTTP: `127.0.0.1:<port + N>` addresses the registry holding
login slot N, through Docker's whole token flow, and tokens stay with their registry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.metadata.database import Database
from portside.metadata.records import RegistryRecord
from portside.metadata.registries import RegistryStore
from tests.api.identities import (
    CONTOSO,
    World,
    basic,
    bearer_for,
    get_token,
    headers,
    make_settings,
    operator,
    push_image,
    run_db,
    seed,
)

LOCAL = "127.0.0.1:5001"
PULL_APP = "repository:team/app:pull"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """Registries contoso (login slot 1) and fabrikam, team/app pushed to contoso."""
    settings = make_settings(tmp_path)
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)
    seed(settings)

    async def give_slot(db: Database) -> RegistryRecord | None:
        return await RegistryStore(db).assign_login_slot("contoso")

    contoso = run_db(settings, give_slot)
    assert contoso is not None and contoso.login_slot == 1
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        push_image(test_client, operator(), "team/app")
        yield test_client


def _pull(client: TestClient, host: str, authorization: str) -> int:
    response = client.get("/v2/team/app/manifests/v1", headers=headers(host, authorization))
    return response.status_code


def test_docker_token_flow_at_a_loopback_login_server(client: TestClient) -> None:
    challenge = client.get("/v2/team/app/manifests/v1", headers=headers(LOCAL))
    assert challenge.status_code == 401
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge.headers["WWW-Authenticate"]))
    assert fields["realm"] == f"http://{LOCAL}/oauth2/token"
    assert fields["service"] == LOCAL
    token = bearer_for(client, [PULL_APP], basic(*World.login("rw-token")), LOCAL)
    assert _pull(client, LOCAL, token) == 200
    # The same registry by its name takes the token; the default registry does not.
    assert _pull(client, CONTOSO, token) == 200
    assert _pull(client, "127.0.0.1:5000", token) == 401
    # And a token for contoso's name works at its loopback login server.
    named = bearer_for(client, [PULL_APP], basic(*World.login("rw-token")), CONTOSO)
    assert _pull(client, LOCAL, named) == 200


def test_a_free_slot_reaches_no_registry(client: TestClient) -> None:
    answer = client.get("/v2/", headers=headers("127.0.0.1:5002"))
    assert answer.status_code == 404


def test_a_service_of_another_registry_is_refused(client: TestClient) -> None:
    login = basic(*World.login("rw-token"))
    refused = client.get(
        "/oauth2/token",
        params={"service": "fabrikam.localhost", "scope": PULL_APP},
        headers=headers(LOCAL, login),
    )
    assert refused.status_code == 400
    assert get_token(client, [PULL_APP], login, LOCAL).status_code == 200
