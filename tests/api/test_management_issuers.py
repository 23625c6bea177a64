"""Trusted issuers managed through the management API: administrator only, effective on every
node without a restart, and sessions that end when their issuer is removed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from tests.api.identities import (
    CONTOSO,
    OIDC_ISSUER,
    OidcIssuer,
    World,
    basic,
    claims_of,
    exchange,
    headers,
    make_settings,
    operator,
    push_image,
    refresh_basic,
    seed,
)

PASSWORD = "issuer-admin-secret-1"
ISSUERS = "/api/v1/trusted-issuers"
CONFIGURED = "https://configured.example/v2.0"
ADMIN = {"Authorization": basic("admin", PASSWORD)}


@dataclass
class Deployment:
    """Two nodes over one database (each its own runtime: its own issuers in memory)."""

    node: TestClient
    other: TestClient
    settings: Settings


@pytest.fixture
def idp() -> OidcIssuer:
    """The issuer the seeded group assignment of contoso names (not trusted at start)."""
    return OidcIssuer()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """Two nodes; the configuration file trusts CONFIGURED only."""
    configured = OidcIssuer(CONFIGURED).trusted(tmp_path / "configured.json")
    settings = make_settings(tmp_path, admin_password=PASSWORD, trusted_issuers=(configured,))
    seed(settings)
    with (
        TestClient(create_app(settings), base_url="http://localhost") as node,
        TestClient(create_app(settings), base_url="http://localhost") as other,
    ):
        push_image(node, operator(), "teamx/app")
        yield Deployment(node, other, settings)


def jwks_of(idp: OidcIssuer, tmp_path: Path) -> dict[str, Any]:
    """The issuer's JWKS document."""
    document: dict[str, Any] = json.loads(idp.write_jwks(tmp_path / "idp.json").read_text())
    return document


def trust(client: TestClient, idp: OidcIssuer, tmp_path: Path, **fields: Any) -> dict[str, Any]:
    """Create trusted issuer `idp` (named `idp`) with its keys inline; the answer."""
    body = {"name": "idp", "issuer": idp.issuer, "audience": idp.audience}
    body |= {"jwks": jwks_of(idp, tmp_path)} | fields
    response = client.post(ISSUERS, json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def pull(client: TestClient, authorization: str) -> int:
    """Status of a manifest read of teamx/app in contoso."""
    response = client.get("/v2/teamx/app/manifests/v1", headers=headers(CONTOSO, authorization))
    return response.status_code


def access_token(client: TestClient, refresh: str) -> str:
    """A Bearer value for pulling teamx/app, from a refresh token."""
    form = {
        "grant_type": "refresh_token",
        "service": CONTOSO,
        "refresh_token": refresh,
        "scope": "repository:teamx/app:pull",
    }
    response = client.post("/oauth2/token", data=form, headers=headers())
    assert response.status_code == 200, response.text
    return "Bearer " + str(response.json()["access_token"])


# The routes ------------------------------------------------------------------------------------


def test_administrator_manages_issuers(
    deployment: Deployment, idp: OidcIssuer, tmp_path: Path
) -> None:
    client = deployment.node
    created = trust(client, idp, tmp_path, tenant="t1")
    assert created["source"] == "api"
    assert created["jwks"]["keys"][0]["kid"] == "idp-1"
    assert created["groupsClaim"] == "groups" and created["tenant"] == "t1"

    listed = client.get(ISSUERS, headers=ADMIN).json()
    assert [(i["name"], i["source"], i["issuer"]) for i in listed] == [
        ("config-1", "config", CONFIGURED),
        ("idp", "api", OIDC_ISSUER),
    ]
    assert listed[0]["jwksFile"].endswith("configured.json")
    assert client.get(f"{ISSUERS}/config-1", headers=ADMIN).json()["issuer"] == CONFIGURED

    changed = client.patch(
        f"{ISSUERS}/idp",
        json={"tenant": None, "jwksUrl": "https://idp.example/keys"},
        headers=ADMIN,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert "tenant" not in body and "jwks" not in body
    assert body["jwksUrl"] == "https://idp.example/keys"
    assert client.get(f"{ISSUERS}/idp", headers=ADMIN).json()["jwksUrl"] == body["jwksUrl"]

    assert client.delete(f"{ISSUERS}/idp", headers=ADMIN).status_code == 204
    assert client.get(f"{ISSUERS}/idp", headers=ADMIN).status_code == 404
    assert client.delete(f"{ISSUERS}/idp", headers=ADMIN).status_code == 404


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"name": "Bad_Name"}, 400),
        ({"name": "config-9"}, 400),
        ({"jwks": None}, 400),  # no keys at all
        ({"jwksUrl": "https://idp.example/keys"}, 400),  # both
        ({"jwks": None, "jwksUrl": "file:///etc/passwd"}, 400),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, 400),  # no usable key
        ({"jwks": {"not": "a set"}}, 400),
        ({"issuer": CONFIGURED}, 409),  # the configuration file trusts it already
        ({"audience": ""}, 400),
    ],
)
def test_bad_issuers_are_refused(
    deployment: Deployment,
    idp: OidcIssuer,
    tmp_path: Path,
    fields: dict[str, Any],
    status: int,
) -> None:
    body = {"name": "idp", "issuer": idp.issuer, "audience": idp.audience}
    body |= {"jwks": jwks_of(idp, tmp_path)} | fields
    body = {k: v for k, v in body.items() if v is not None}
    response = deployment.node.post(ISSUERS, json=body, headers=ADMIN)
    assert response.status_code == status, response.text


def test_names_and_issuers_are_taken_once(
    deployment: Deployment, idp: OidcIssuer, tmp_path: Path
) -> None:
    client = deployment.node
    trust(client, idp, tmp_path)
    again = {"name": "idp2", "issuer": idp.issuer, "audience": "x", "jwks": jwks_of(idp, tmp_path)}
    assert client.post(ISSUERS, json=again, headers=ADMIN).status_code == 409
    renamed = again | {"name": "idp", "issuer": "https://elsewhere.example"}
    assert client.post(ISSUERS, json=renamed, headers=ADMIN).status_code == 409


@pytest.mark.parametrize(
    "fields",
    [
        {"tenant": ""},
        {"audience": ""},
        {"jwks": None},
        {"jwksUrl": "ftp://idp.example/keys"},
        {"jwks": {"keys": []}},
        {"issuer": "https://elsewhere.example"},  # the `iss` never changes
        {"name": "renamed"},
    ],
)
def test_bad_changes_are_refused(
    deployment: Deployment, idp: OidcIssuer, tmp_path: Path, fields: dict[str, Any]
) -> None:
    trust(deployment.node, idp, tmp_path)
    response = deployment.node.patch(f"{ISSUERS}/idp", json=fields, headers=ADMIN)
    assert response.status_code == 400, response.text
    assert deployment.node.patch(f"{ISSUERS}/nosuch", json={}, headers=ADMIN).status_code == 404


def test_configured_issuers_are_read_only(deployment: Deployment) -> None:
    client = deployment.node
    patched = client.patch(f"{ISSUERS}/config-1", json={"audience": "x"}, headers=ADMIN)
    assert patched.status_code == 409
    assert client.delete(f"{ISSUERS}/config-1", headers=ADMIN).status_code == 409
    assert client.get(f"{ISSUERS}/config-2", headers=ADMIN).status_code == 404


def test_only_the_administrator_manages_issuers(
    deployment: Deployment, idp: OidcIssuer, tmp_path: Path
) -> None:
    client = deployment.node
    trust(client, idp, tmp_path)
    owner = {"Authorization": operator()}  # a service principal, Owner of contoso
    body = {"name": "x", "issuer": "https://x.example", "audience": "x", "jwksUrl": "https://x"}
    assert client.get(ISSUERS, headers=owner).status_code == 403
    assert client.post(ISSUERS, json=body, headers=owner).status_code == 403
    assert client.get(f"{ISSUERS}/idp", headers=owner).status_code == 403
    assert client.patch(f"{ISSUERS}/idp", json={}, headers=owner).status_code == 403
    assert client.delete(f"{ISSUERS}/idp", headers=owner).status_code == 403
    assert client.get(ISSUERS).status_code == 401


# Effect without a restart ----------------------------------------------------------------------


def test_an_issuer_created_on_one_node_is_trusted_by_every_node_at_once(
    deployment: Deployment, idp: OidcIssuer, tmp_path: Path
) -> None:
    # Both nodes have exchanged before (their verifiers are built and warm).
    for client in (deployment.node, deployment.other):
        assert exchange(client, idp.token()).status_code in (401, 403)
    trust(deployment.node, idp, tmp_path)
    for client in (deployment.node, deployment.other):
        response = exchange(client, idp.token())
        assert response.status_code == 200, response.text
        refresh = response.json()["refresh_token"]
        assert claims_of(refresh)["idp"] == OIDC_ISSUER
        assert pull(client, refresh_basic(refresh)) == 200


def test_changed_keys_apply_at_the_next_exchange(
    deployment: Deployment, idp: OidcIssuer, tmp_path: Path
) -> None:
    trust(deployment.node, idp, tmp_path)
    assert exchange(deployment.other, idp.token()).status_code == 200
    rotated = OidcIssuer()  # the same issuer with a new key
    patched = deployment.node.patch(
        f"{ISSUERS}/idp", json={"jwks": jwks_of(rotated, tmp_path)}, headers=ADMIN
    )
    assert patched.status_code == 200, patched.text
    assert exchange(deployment.other, idp.token()).status_code == 401
    assert exchange(deployment.other, rotated.token()).status_code == 200


def test_deleting_an_issuer_ends_its_sessions_everywhere(
    deployment: Deployment, idp: OidcIssuer, tmp_path: Path
) -> None:
    trust(deployment.node, idp, tmp_path)
    refresh = exchange(deployment.node, idp.token()).json()["refresh_token"]
    bearer = access_token(deployment.other, refresh)
    assert pull(deployment.other, bearer) == 200

    assert deployment.node.delete(f"{ISSUERS}/idp", headers=ADMIN).status_code == 204
    for client in (deployment.node, deployment.other):
        assert pull(client, bearer) == 401
        assert pull(client, refresh_basic(refresh)) == 401
        form = {"grant_type": "refresh_token", "service": CONTOSO, "refresh_token": refresh}
        assert client.post("/oauth2/token", data=form, headers=headers()).status_code == 401
        assert exchange(client, idp.token()).status_code == 401
    # Other identities keep working.
    assert pull(deployment.other, basic(*World.login("contoso"))) == 200


def test_role_assignments_may_name_issuers_created_through_the_api(
    deployment: Deployment, idp: OidcIssuer, tmp_path: Path
) -> None:
    client = deployment.node
    path = "/api/v1/registries/contoso/role-assignments"
    body = {"role": "AcrPull", "assignee": "alice", "assigneeType": "subject"}
    assert client.post(path, json=body | {"issuer": idp.issuer}, headers=ADMIN).status_code == 400
    trust(client, idp, tmp_path)
    # Two issuers are trusted now (one configured, one stored): the issuer must be named.
    assert client.post(path, json=body, headers=ADMIN).status_code == 400
    created = deployment.other.post(path, json=body | {"issuer": idp.issuer}, headers=ADMIN)
    assert created.status_code == 201, created.text
    configured = client.post(path, json=body | {"issuer": CONFIGURED}, headers=ADMIN)
    assert configured.status_code == 201, configured.text


def test_a_portal_client_is_set_changed_and_cleared_its_secret_never_shown(
    deployment: Deployment, idp: OidcIssuer, tmp_path: Path
) -> None:
    client = deployment.node
    created = trust(client, idp, tmp_path, portalClientId="portal", portalClientSecret="s3cret-1")
    assert created["portalClientId"] == "portal" and created["portalClientSecretSet"] is True
    assert "s3cret-1" not in json.dumps(created)
    # A new client id alone keeps the sealed secret; a null secret drops it.
    changed = client.patch(f"{ISSUERS}/idp", json={"portalClientId": "other"}, headers=ADMIN)
    assert changed.json()["portalClientId"] == "other" and changed.json()["portalClientSecretSet"]
    dropped = client.patch(f"{ISSUERS}/idp", json={"portalClientSecret": None}, headers=ADMIN)
    assert dropped.json()["portalClientId"] == "other"
    assert dropped.json()["portalClientSecretSet"] is False
    cleared = client.patch(f"{ISSUERS}/idp", json={"portalClientId": None}, headers=ADMIN)
    assert "portalClientId" not in cleared.json()
    listed = client.get(ISSUERS, headers=ADMIN).json()
    assert all(not entry["portalClientSecretSet"] for entry in listed)


@pytest.mark.parametrize(
    "fields",
    [
        {"portalClientSecret": "s3cret-1"},  # a secret without a client
        {"portalClientId": ""},
        {"portalClientId": "x" * 256},
    ],
)
def test_bad_portal_clients_are_refused(
    deployment: Deployment, idp: OidcIssuer, tmp_path: Path, fields: dict[str, Any]
) -> None:
    body = {"name": "idp", "issuer": idp.issuer, "audience": idp.audience}
    body |= {"jwks": jwks_of(idp, tmp_path)} | fields
    response = deployment.node.post(ISSUERS, json=body, headers=ADMIN)
    assert response.status_code == 400, response.text
