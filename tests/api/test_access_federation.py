"""Federated sign-in over HTTP: identities bound to their issuer, tenants, session limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from httpx import Response
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.database import Database
from portside.metadata.principals import RoleAssignmentStore
from tests.api.identities import (
    CONTOSO,
    RELEASE_GROUP,
    OidcIssuer,
    claims_of,
    exchange,
    headers,
    make_settings,
    operator,
    push_image,
    refresh_basic,
    run_db,
    seed,
)

OTHER_ISSUER = "https://other-idp.example/v2.0"


@dataclass
class Server:
    """A running app, its settings and the seeded contoso registry's id."""

    client: TestClient
    settings: Settings
    contoso_id: int


@pytest.fixture
def idp() -> OidcIssuer:
    """The first trusted issuer (the seeded group assignment names it)."""
    return OidcIssuer()


@pytest.fixture
def other() -> OidcIssuer:
    """A second trusted issuer, with the same audience and its own key."""
    return OidcIssuer(OTHER_ISSUER)


def _server(settings: Settings) -> Iterator[Server]:
    world = seed(settings)
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        push_image(client, operator(), "teamx/app")
        yield Server(client, settings, world.contoso_id)


@pytest.fixture
def two_issuers(tmp_path: Path, idp: OidcIssuer, other: OidcIssuer) -> Iterator[Server]:
    """Two trusted issuers; contoso grants RELEASE_GROUP of `idp` AcrPush on teamx/*."""
    trusted = (idp.trusted(tmp_path / "a.json"), other.trusted(tmp_path / "b.json"))
    yield from _server(make_settings(tmp_path, trusted_issuers=trusted))


def _pull(client: TestClient, refresh: str, repo: str = "teamx/app") -> int:
    response = client.get(
        f"/v2/{repo}/manifests/v1", headers=headers(authorization=refresh_basic(refresh))
    )
    return response.status_code


def _refresh(response: Response) -> str:
    assert response.status_code == 200, response.text
    token: str = response.json()["refresh_token"]
    return token


# Issuer binding --------------------------------------------------------------------------------


def test_groups_of_another_issuer_get_nothing(
    two_issuers: Server, idp: OidcIssuer, other: OidcIssuer
) -> None:
    client = two_issuers.client
    assert _pull(client, _refresh(exchange(client, idp.token()))) == 200
    impostor = _refresh(exchange(client, other.token(groups=[RELEASE_GROUP])))
    assert _pull(client, impostor) == 403


def test_subjects_of_another_issuer_get_nothing(
    two_issuers: Server, idp: OidcIssuer, other: OidcIssuer
) -> None:
    async def assign(db: Database) -> None:
        await RoleAssignmentStore(db).create(
            two_issuers.contoso_id, "subject", "alice", "AcrPull", "*", issuer=idp.issuer
        )

    run_db(two_issuers.settings, assign)
    client = two_issuers.client
    alice = _refresh(exchange(client, idp.token(sub="alice", groups=[])))
    assert _pull(client, alice) == 200
    claimed = _refresh(exchange(client, other.token(sub="alice", groups=[])))
    assert _pull(client, claimed) == 403


# Tenants ---------------------------------------------------------------------------------------


@pytest.fixture
def tenant_bound(tmp_path: Path, idp: OidcIssuer) -> Iterator[Server]:
    """One trusted issuer, bound to tenant t1."""
    trusted = (idp.trusted(tmp_path / "a.json", tenant="t1"),)
    yield from _server(make_settings(tmp_path, trusted_issuers=trusted))


def _exchange_tenant(client: TestClient, external: str, tenant: str | None) -> Response:
    form = {"grant_type": "access_token", "service": CONTOSO, "access_token": external}
    if tenant is not None:
        form["tenant"] = tenant
    return client.post("/oauth2/exchange", data=form, headers=headers())


@pytest.mark.parametrize(
    ("tid", "tenant", "status"),
    [
        ("t1", None, 200),
        ("t1", "t1", 200),
        ("t2", None, 401),
        ("t2", "t1", 401),
        (None, None, 401),
        (None, "t1", 401),
        ("t1", "t2", 401),
    ],
)
def test_tenant_bound_issuer_checks_the_token_tenant(
    tenant_bound: Server, idp: OidcIssuer, tid: str | None, tenant: str | None, status: int
) -> None:
    external = idp.token(tid=tid) if tid is not None else idp.token()
    assert _exchange_tenant(tenant_bound.client, external, tenant).status_code == status


# Session limits --------------------------------------------------------------------------------


@pytest.fixture
def one_issuer(tmp_path: Path, idp: OidcIssuer) -> Iterator[Server]:
    """One trusted issuer, no tenant."""
    trusted = (idp.trusted(tmp_path / "a.json"),)
    yield from _server(make_settings(tmp_path, trusted_issuers=trusted))


def _renew(client: TestClient, refresh: str, via: str) -> str:
    """A new refresh token from `refresh`: the OAuth2 POST or Docker's GET with offline_token."""
    if via == "post":
        form = {
            "grant_type": "refresh_token",
            "service": CONTOSO,
            "refresh_token": refresh,
            "access_type": "offline",
            "scope": "repository:teamx/app:pull",
        }
        return _refresh(client.post("/oauth2/token", data=form, headers=headers()))
    params = {"service": CONTOSO, "scope": "repository:teamx/app:pull", "offline_token": "true"}
    response = client.get(
        "/oauth2/token", params=params, headers=headers(authorization=refresh_basic(refresh))
    )
    return _refresh(response)


@pytest.mark.parametrize("via", ["post", "get"])
def test_refresh_tokens_never_outlive_the_directory_token(
    one_issuer: Server, idp: OidcIssuer, via: str
) -> None:
    client = one_issuer.client
    ends = int(time.time()) + 600
    refresh = _refresh(exchange(client, idp.token(exp=ends)))
    assert claims_of(refresh)["exp"] <= ends
    for _ in range(3):
        refresh = _renew(client, refresh, via)
        assert claims_of(refresh)["exp"] <= ends
    assert _pull(client, refresh) == 200


def test_refresh_tokens_never_outlive_the_maximum_session(tmp_path: Path, idp: OidcIssuer) -> None:
    settings = make_settings(
        tmp_path,
        trusted_issuers=(idp.trusted(tmp_path / "a.json"),),
        federated_session_max_seconds=900,
    )
    for server in _server(settings):
        started = int(time.time())
        refresh = _refresh(exchange(server.client, idp.token(exp=started + 7200)))
        assert claims_of(refresh)["exp"] <= started + 901
        renewed = _renew(server.client, refresh, "post")
        assert claims_of(renewed)["exp"] <= started + 901


@pytest.mark.parametrize("via", ["post", "get"])
def test_access_tokens_never_outlive_the_session(
    one_issuer: Server, idp: OidcIssuer, via: str
) -> None:
    client = one_issuer.client
    ends = int(time.time()) + 600  # sooner than an access token's 15 minutes
    refresh = _refresh(exchange(client, idp.token(exp=ends)))
    if via == "post":
        form = {
            "grant_type": "refresh_token",
            "service": CONTOSO,
            "refresh_token": refresh,
            "scope": "repository:teamx/app:pull",
        }
        response = client.post("/oauth2/token", data=form, headers=headers())
    else:
        params = {"service": CONTOSO, "scope": "repository:teamx/app:pull"}
        response = client.get(
            "/oauth2/token", params=params, headers=headers(authorization=refresh_basic(refresh))
        )
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["exp"] <= ends
    assert response.json()["expires_in"] <= 600
