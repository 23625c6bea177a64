"""ACR's recycle-bin data plane, `/acr/v1/_deleted/...`, through the token flow `az acr` uses:
POST /oauth2/token (grant_type=password) for `registry:deleted_catalog:*` or
`repository:NAME:deleted_read,deleted_restore`, then the call with the access token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.database import Database
from portside.metadata.registries import RegistryStore
from portside.metadata.retention import LifecyclePolicy, RetentionStore
from tests.api.identities import (
    CONTOSO,
    OPERATOR,
    SP_DELETE,
    SP_READER,
    World,
    claims_of,
    headers,
    make_settings,
    operator,
    push_image,
    run_db,
    seed,
)
from tests.registry_client import error_code

DELETED_CATALOG = "registry:deleted_catalog:*"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Credentials required everywhere."""
    return make_settings(tmp_path)


@pytest.fixture
def world(settings: Settings) -> World:
    """The seeded identities; contoso keeps what is deleted for 7 days, its admin enabled."""
    found = seed(settings)

    async def soft_delete(db: Database) -> None:
        await RetentionStore(db).set_policy(found.contoso_id, LifecyclePolicy(soft_delete_days=7))
        assert await RegistryStore(db).update("contoso", {"admin_enabled": True}) is not None

    run_db(settings, soft_delete)
    return found


@pytest.fixture
def client(settings: Settings, world: World) -> Iterator[TestClient]:
    """The app, started after seeding."""
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        yield test_client


def token(client: TestClient, owner: str, scope: str) -> dict[str, str]:
    """Headers with an access token for `scope`, asked as az acr asks (POST, password grant)."""
    username, password = World.login(owner)
    form = {
        "grant_type": "password",
        "service": CONTOSO,
        "scope": scope,
        "username": username,
        "password": password,
    }
    answer = client.post("/oauth2/token", data=form, headers=headers())
    assert answer.status_code == 200, answer.text
    return headers(authorization="Bearer " + answer.json()["access_token"])


def granted(client: TestClient, owner: str, scope: str) -> list[object]:
    """The `access` claim of the token `owner` gets for `scope`."""
    bearer = token(client, owner, scope)["Authorization"].removeprefix("Bearer ")
    access: list[object] = claims_of(bearer)["access"]
    return access


def test_list_deleted_repositories_tags_and_restore(client: TestClient) -> None:
    v1, _ = push_image(client, operator(), "team/app", "v1")
    v2, _ = push_image(client, operator(), "team/app", "v2")
    push_image(client, operator(), "team/gone", "v1")
    owner = headers(authorization=operator())
    assert client.delete(f"/v2/team/app/manifests/{v1}", headers=owner).status_code == 202
    assert client.delete("/acr/v1/team/app/_tags/v2", headers=owner).status_code == 202
    assert client.delete("/acr/v1/team/gone", headers=owner).status_code == 202

    # az acr repository list-deleted
    catalog = client.get(
        "/acr/v1/_deleted/_catalog", headers=token(client, "contoso", DELETED_CATALOG)
    )
    assert catalog.status_code == 200, catalog.text
    assert catalog.json() == {"repositories": ["team/gone"]}
    paged = client.get(
        "/acr/v1/_deleted/_catalog?n=0", headers=token(client, "contoso", DELETED_CATALOG)
    )
    assert paged.json() == {"repositories": []}

    # az acr manifest list-deleted / list-deleted-tags, then restore
    scope = "repository:team/app:deleted_read,deleted_restore"
    bearer = token(client, OPERATOR, scope)
    manifests = client.get("/acr/v1/_deleted/team/app/_manifests", headers=bearer).json()
    assert manifests["imageName"] == "team/app" and manifests["registry"] == CONTOSO
    (entry,) = manifests["manifests"]
    assert entry["digest"] == v1 and entry["tags"] == ["v1"]
    assert entry["deletedAt"].endswith("Z") and entry["expiresAfter"] > entry["deletedAt"]
    tags = client.get("/acr/v1/_deleted/team/app/_tags", headers=bearer).json()["tags"]
    assert [(t["tag"], t["digest"]) for t in tags] == [("v1", v1), ("v2", v2)]
    restored = client.post(
        f"/acr/v1/_deleted/team/app/_manifests/{v1}",
        params={"force": "False"},
        json={"tag": "v1"},
        headers=bearer,
    )
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert (body["digest"], body["tags"], body["restoredManifests"]) == (v1, ["v1"], [v1])
    assert body["tagConflicts"] == []
    pulled = client.get("/v2/team/app/manifests/v1", headers=owner)
    assert pulled.status_code == 200 and pulled.headers["Docker-Content-Digest"] == v1
    # The deleted tag alone comes back by its digest, with the tag the body names.
    again = client.post(
        f"/acr/v1/_deleted/team/app/_manifests/{v2}", json={"tag": "v2"}, headers=bearer
    )
    assert again.status_code == 200 and again.json()["tags"] == ["v2"]
    assert client.get("/v2/team/app/tags/list", headers=owner).json()["tags"] == ["v1", "v2"]


def test_restore_errors(client: TestClient) -> None:
    digest, _ = push_image(client, operator(), "team/app", "v1")
    bearer = token(client, OPERATOR, "repository:team/app:deleted_read,deleted_restore")
    unknown = client.post(
        f"/acr/v1/_deleted/team/app/_manifests/sha256:{'0' * 64}", json={"tag": "x"}, headers=bearer
    )
    assert unknown.status_code == 404 and error_code(unknown) == "MANIFEST_UNKNOWN"
    for bad in (b"[1]", b'{"tag": 3}', b"{", b'{"tag": "-bad"}'):
        refused = client.post(
            f"/acr/v1/_deleted/team/app/_manifests/{digest}", content=bad, headers=bearer
        )
        assert refused.status_code == 400, bad
    owner = headers(authorization=operator())
    bad_name = client.get("/acr/v1/_deleted/Team_App/_tags", headers=owner)
    assert bad_name.status_code == 400 and error_code(bad_name) == "NAME_INVALID"
    bad_digest = client.post("/acr/v1/_deleted/team/app/_manifests/v1", headers=owner)
    assert bad_digest.status_code == 400 and error_code(bad_digest) == "DIGEST_INVALID"
    assert client.delete(f"/v2/team/app/manifests/{digest}", headers=owner).status_code == 202
    client.patch("/acr/v1/team/app", json={"writeEnabled": False}, headers=owner)
    blocked = client.post(
        f"/acr/v1/_deleted/team/app/_manifests/{digest}", json={"tag": None}, headers=bearer
    )
    assert blocked.status_code == 409 and error_code(blocked) == "DENIED"
    assert "write-disabled" in blocked.json()["errors"][0]["message"]


def test_who_may_read_and_restore_the_recycle_bin(client: TestClient) -> None:
    # As in ACR: Owner, Contributor and the admin user; not AcrDelete, Reader or scope maps.
    scope = "repository:team/app:deleted_read,deleted_restore"
    actions = ["deleted_read", "deleted_restore"]
    wanted = [{"type": "repository", "name": "team/app", "actions": actions}]
    assert granted(client, OPERATOR, scope) == wanted
    assert granted(client, "contoso", scope) == wanted
    catalog = [{"type": "registry", "name": "deleted_catalog", "actions": ["*"]}]
    assert granted(client, OPERATOR, DELETED_CATALOG) == catalog
    assert granted(client, SP_DELETE, scope) == []
    assert granted(client, SP_READER, scope) == []
    assert granted(client, SP_READER, DELETED_CATALOG) == []
    # Tokens: rw-token's map holds content/read and content/write on team/*.
    assert granted(client, "rw-token", scope) == []
    # Without the scope the call is challenged for exactly what az acr asks for.
    challenged = client.get("/acr/v1/_deleted/_catalog", headers=headers())
    assert challenged.status_code == 401
    assert f'scope="{DELETED_CATALOG}"' in challenged.headers["WWW-Authenticate"]
    reader = token(client, SP_READER, "repository:team/app:metadata_read,pull")
    listed = client.get("/acr/v1/_deleted/team/app/_tags", headers=reader)
    assert listed.status_code == 401
    assert 'scope="repository:team/app:deleted_read"' in listed.headers["WWW-Authenticate"]
