"""The access step over HTTP: challenges, Basic, Denied, throttling, hosts, isolation, anonymity.

Token flows, revocation and federation are in test_access_tokens.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.database import Database
from portside.metadata.registries import RegistryStore
from tests.api.identities import (
    CONTOSO,
    FABRIKAM,
    SP_PULL,
    World,
    basic,
    headers,
    make_settings,
    operator,
    push_image,
    run_db,
    seed,
)
from tests.registry_client import digest_of, error_code

REALM = 'realm="http://contoso.localhost/oauth2/token",service="contoso.localhost"'


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Credentials required everywhere (no loopback development registry)."""
    return make_settings(tmp_path)


@pytest.fixture
def world(settings: Settings) -> World:
    """The seeded identities."""
    return seed(settings)


@pytest.fixture
def client(settings: Settings, world: World) -> Iterator[TestClient]:
    """The app, started after seeding."""
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        yield test_client


def _challenge(client: TestClient, method: str, path: str) -> str:
    response = client.request(method, path, headers=headers())
    assert response.status_code == 401, response.text
    assert error_code(response) == "UNAUTHORIZED"
    return response.headers["WWW-Authenticate"]


def test_challenges_name_realm_service_and_scope(client: TestClient) -> None:
    pull = _challenge(client, "GET", "/v2/team/app/manifests/v1")
    assert pull == f'Bearer {REALM},scope="repository:team/app:pull"'
    push = _challenge(client, "POST", "/v2/team/app/blobs/uploads/")
    assert push == f'Bearer {REALM},scope="repository:team/app:pull,push"'
    delete = _challenge(client, "DELETE", f"/v2/team/app/manifests/{digest_of(b'x')}")
    assert delete == f'Bearer {REALM},scope="repository:team/app:delete"'
    assert _challenge(client, "GET", "/v2/_catalog") == f'Bearer {REALM},scope="registry:catalog:*"'
    assert _challenge(client, "GET", "/v2/") == f"Bearer {REALM}"


def test_default_registry_is_closed_without_loopback_mode(client: TestClient) -> None:
    response = client.get("/v2/", headers={"Host": "127.0.0.1:5000"})
    assert response.status_code == 401
    expected = 'Bearer realm="http://127.0.0.1:5000/oauth2/token",service="127.0.0.1:5000"'
    assert response.headers["WWW-Authenticate"] == expected


def test_basic_directly_on_v2(client: TestClient) -> None:
    push_image(client, operator(), "team/app")
    token = basic(*World.login("rw-token"))
    assert client.get("/v2/", headers=headers(authorization=token)).status_code == 200
    response = client.get("/v2/team/app/manifests/v1", headers=headers(authorization=token))
    assert response.status_code == 200
    push_image(client, token, "team/sub/deep")
    bad = client.get("/v2/", headers=headers(authorization=basic("rw-token", "wrong")))
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"] == f"Bearer {REALM}"


def test_good_credentials_lacking_permission_are_denied(client: TestClient) -> None:
    push_image(client, operator(), "other")
    token = headers(authorization=basic(*World.login("ro-token")))
    push = client.post("/v2/team/app/blobs/uploads/", headers=token)
    assert push.status_code == 403
    assert error_code(push) == "DENIED"
    assert "WWW-Authenticate" not in push.headers
    assert push.json()["errors"][0]["detail"] == [
        {"Type": "repository", "Name": "team/app", "Action": "pull"},
        {"Type": "repository", "Name": "team/app", "Action": "push"},
    ]
    assert client.get("/v2/other/manifests/v1", headers=token).status_code == 403
    # The same request without credentials is a challenge, not a denial.
    assert client.get("/v2/other/manifests/v1", headers=headers()).status_code == 401


def test_eleventh_bad_password_is_throttled_even_if_right(client: TestClient) -> None:
    user, password = World.login("rw-token")
    for _ in range(10):
        response = client.get("/v2/", headers=headers(authorization=basic(user, "guess")))
        assert response.status_code == 401
    locked = client.get("/v2/", headers=headers(authorization=basic(user, "guess")))
    assert locked.status_code == 429
    assert error_code(locked) == "TOOMANYREQUESTS"
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    right = client.get("/v2/", headers=headers(authorization=basic(user, password)))
    assert right.status_code == 429
    # The token endpoint shares the lockout; other user names are not affected.
    assert (
        client.get(
            "/oauth2/token",
            params={"service": CONTOSO},
            headers=headers(authorization=basic(user, password)),
        ).status_code
        == 429
    )
    other = basic(*World.login("ro-token"))
    assert client.get("/v2/", headers=headers(authorization=other)).status_code == 200


def test_throttling_is_per_registry(client: TestClient) -> None:
    for _ in range(11):
        client.get("/v2/", headers=headers(FABRIKAM, basic("fabrikam", "guess")))
    good = basic(*World.login("fabrikam"))
    assert client.get("/v2/", headers=headers(FABRIKAM, good)).status_code == 429
    admin = basic(*World.login("contoso"))
    assert client.get("/v2/", headers=headers(CONTOSO, admin)).status_code == 200


@pytest.mark.parametrize("path", ["/v2/", "/v2/team/app/manifests/v1", "/oauth2/token"])
def test_unknown_registry_host_is_404(client: TestClient, path: str) -> None:
    admin = basic(*World.login("contoso"))
    response = client.get(path, headers=headers("nosuch.localhost", admin))
    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"
    # A host naming a registry below another label does not fall back to the default one.
    assert client.get(path, headers=headers("a.contoso.localhost", admin)).status_code == 404


def test_registries_are_isolated(client: TestClient) -> None:
    digest, _ = push_image(client, operator(), "team/app")
    layer = digest_of(b"layer of team/app:v1")
    fabrikam = headers(FABRIKAM, basic(*World.login("fabrikam")))
    assert client.head(f"/v2/team/app/manifests/{digest}", headers=fabrikam).status_code == 404
    assert client.get(f"/v2/team/app/manifests/{digest}", headers=fabrikam).status_code == 404
    assert client.head(f"/v2/team/app/blobs/{layer}", headers=fabrikam).status_code == 404
    assert client.get(f"/v2/team/app/blobs/{layer}", headers=fabrikam).status_code == 404
    assert client.get("/v2/team/app/tags/list", headers=fabrikam).status_code == 404
    mount = client.post(
        "/v2/mine/blobs/uploads/", params={"mount": layer, "from": "team/app"}, headers=fabrikam
    )
    assert mount.status_code == 202  # a new upload session, not a mount
    assert client.head(f"/v2/mine/blobs/{layer}", headers=fabrikam).status_code == 404
    catalog = client.get("/v2/_catalog", headers=fabrikam)
    assert "team/app" not in catalog.json()["repositories"]
    # Contoso's admin cannot read fabrikam either, nor fabrikam's admin contoso.
    wrong = headers(CONTOSO, basic(*World.login("fabrikam")))
    assert client.get(f"/v2/team/app/manifests/{digest}", headers=wrong).status_code == 401
    # The blob is still there for contoso.
    ok = client.get(f"/v2/team/app/blobs/{layer}", headers=headers(authorization=operator()))
    assert ok.status_code == 200


def test_anonymous_pull_of_a_registry(client: TestClient, settings: Settings) -> None:
    digest, body = push_image(client, operator(), "team/app")

    async def open_registry(db: Database) -> None:
        assert await RegistryStore(db).update("contoso", {"anonymous_pull": True}) is not None

    run_db(settings, open_registry)
    pulled = client.get(f"/v2/team/app/manifests/{digest}", headers=headers())
    assert pulled.status_code == 200 and pulled.content == body
    push = client.post("/v2/team/app/blobs/uploads/", headers=headers())
    assert push.status_code == 401
    assert 'scope="repository:team/app:pull,push"' in push.headers["WWW-Authenticate"]
    assert client.delete(f"/v2/team/app/manifests/{digest}", headers=headers()).status_code == 401
    # The catalog and the metadata are open too, as in ACR (test_anonymous_pull_lists_...).
    assert client.get("/v2/_catalog", headers=headers()).json() == {"repositories": ["team/app"]}
    # Anonymous pull is per registry: fabrikam stays closed.
    assert client.get("/v2/team/app/manifests/v1", headers=headers(FABRIKAM)).status_code == 401


def test_anonymous_pull_of_a_repository(
    client: TestClient, settings: Settings, world: World
) -> None:
    digest, body = push_image(client, operator(), "team/app")
    push_image(client, operator(), "team/app2")

    async def open_repository(db: Database) -> None:
        store = RegistryStore(db)
        assert await store.set_repository_anonymous_pull(world.contoso_id, "team/app", True)
        assert not await store.set_repository_anonymous_pull(world.contoso_id, "nope", True)

    run_db(settings, open_repository)
    pulled = client.get(f"/v2/team/app/manifests/{digest}", headers=headers())
    assert pulled.status_code == 200 and pulled.content == body
    assert client.get("/v2/team/app/tags/list", headers=headers()).status_code == 200
    assert client.get("/v2/team/app2/manifests/v1", headers=headers()).status_code == 401
    assert client.post("/v2/team/app/blobs/uploads/", headers=headers()).status_code == 401
    # An anonymous token carries the public pull, and nothing more.
    token = client.get(
        "/oauth2/token",
        params=[("service", CONTOSO), ("scope", "repository:team/app:pull,push")],
        headers=headers(),
    )
    assert token.status_code == 200 and "refresh_token" not in token.json()
    bearer = headers(authorization="Bearer " + token.json()["access_token"])
    assert client.get(f"/v2/team/app/manifests/{digest}", headers=bearer).status_code == 200
    assert client.post("/v2/team/app/blobs/uploads/", headers=bearer).status_code == 401

    async def close_repository(db: Database) -> None:
        await RegistryStore(db).set_repository_anonymous_pull(world.contoso_id, "team/app", False)

    run_db(settings, close_repository)
    assert client.get(f"/v2/team/app/manifests/{digest}", headers=headers()).status_code == 401
    assert client.get(f"/v2/team/app/manifests/{digest}", headers=bearer).status_code == 401


def _anonymous_token(client: TestClient, *scopes: str) -> dict[str, str]:
    """Headers carrying an anonymous access token for `scopes`, got as the ACR SDK gets it
    (POST grant_type=password with no credentials)."""
    form = {"grant_type": "password", "service": CONTOSO, "scope": " ".join(scopes)}
    token = client.post("/oauth2/token", data=form, headers=headers())
    assert token.status_code == 200, token.text
    return headers(authorization="Bearer " + token.json()["access_token"])


def test_anonymous_pull_lists_repositories_and_tags(client: TestClient, settings: Settings) -> None:
    # ACR grants anonymous callers of a registry with anonymous pull the catalog and
    # metadata_read: Microsoft's SDK lists repositories and tags anonymously with them.
    push_image(client, operator(), "team/app")
    push_image(client, operator(), "team/web")

    async def open_registry(db: Database) -> None:
        assert await RegistryStore(db).update("contoso", {"anonymous_pull": True}) is not None

    run_db(settings, open_registry)
    catalog = client.get("/acr/v1/_catalog", headers=_anonymous_token(client, "registry:catalog:*"))
    assert catalog.status_code == 200
    assert catalog.json()["repositories"] == ["team/app", "team/web"]
    reader = _anonymous_token(client, "repository:team/app:metadata_read")
    tags = client.get("/acr/v1/team/app/_tags", headers=reader)
    assert tags.status_code == 200 and [t["name"] for t in tags.json()["tags"]] == ["v1"]
    assert client.get("/acr/v1/team/app", headers=reader).status_code == 200
    # Reading is all: no metadata writes, no deletes, even with a token asking for them.
    writer = _anonymous_token(client, "repository:team/app:metadata_write,delete")
    patched = client.patch("/acr/v1/team/app", json={"writeEnabled": False}, headers=writer)
    assert patched.status_code == 401
    assert client.delete("/acr/v1/team/app/_tags/v1", headers=writer).status_code == 401
    # Fabrikam has no anonymous pull: its catalog stays closed.
    assert client.get("/v2/_catalog", headers=headers(FABRIKAM)).status_code == 401


def test_anonymous_catalog_shows_only_public_repositories(
    client: TestClient, settings: Settings, world: World
) -> None:
    push_image(client, operator(), "team/app")
    push_image(client, operator(), "team/secret")
    # No public repository: the anonymous catalog is refused, not empty.
    assert client.get("/v2/_catalog", headers=headers()).status_code == 401

    async def open_repository(db: Database) -> None:
        assert await RegistryStore(db).set_repository_anonymous_pull(
            world.contoso_id, "team/app", True
        )

    run_db(settings, open_repository)
    assert client.get("/v2/_catalog", headers=headers()).json() == {"repositories": ["team/app"]}
    bearer = _anonymous_token(client, "registry:catalog:*")
    listed = client.get("/acr/v1/_catalog", headers=bearer)
    assert listed.status_code == 200 and listed.json()["repositories"] == ["team/app"]
    reader = _anonymous_token(client, "repository:team/app:metadata_read")
    assert client.get("/acr/v1/team/app/_tags", headers=reader).status_code == 200
    hidden = _anonymous_token(client, "repository:team/secret:metadata_read,pull")
    assert client.get("/acr/v1/team/secret/_tags", headers=hidden).status_code == 401
    assert client.get("/v2/team/secret/manifests/v1", headers=hidden).status_code == 401


def test_service_principal_basic(client: TestClient) -> None:
    push_image(client, operator(), "other")
    sp = headers(authorization=basic(*World.login(SP_PULL)))
    assert client.get("/v2/other/manifests/v1", headers=sp).status_code == 200
    assert client.post("/v2/other/blobs/uploads/", headers=sp).status_code == 403
    # A principal's id is its user name; its display name is not.
    named = headers(authorization=basic("sp-acrpull", World.login(SP_PULL)[1]))
    assert client.get("/v2/other/manifests/v1", headers=named).status_code == 401


def test_challenge_scheme_follows_a_trusted_proxy(tmp_path: Path) -> None:
    for trusted, expected in ((True, "https"), (False, "http")):
        settings = make_settings(tmp_path / str(trusted), trust_forwarded_proto=trusted)
        with TestClient(create_app(settings), base_url="http://localhost") as client:
            answer = client.get("/v2/", headers={"X-Forwarded-Proto": "https"})
        assert answer.status_code == 401
        realm = answer.headers["www-authenticate"]
        assert realm.startswith(f'Bearer realm="{expected}://localhost/oauth2/token"')
