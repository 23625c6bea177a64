"""Docker token auth over HTTP: the token flow, refresh tokens, narrowing, revocation, exchange."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.auth.identity import NULL_GUID
from portside.config import Settings
from portside.metadata.credentials import CredentialStore
from portside.metadata.database import Database
from portside.metadata.principals import RoleAssignmentStore
from portside.metadata.scope_maps import TokenStore
from tests.api.identities import (
    CONTOSO,
    FABRIKAM,
    HASHER,
    RELEASE_GROUP,
    SP_PULL,
    OidcIssuer,
    World,
    basic,
    bearer_for,
    claims_of,
    exchange,
    get_token,
    headers,
    make_settings,
    operator,
    push_image,
    refresh_basic,
    run_db,
    seed,
)
from tests.registry_client import error_code

PULL_APP = "repository:team/app:pull"


@pytest.fixture
def idp() -> OidcIssuer:
    """The trusted identity provider."""
    return OidcIssuer()


@pytest.fixture
def settings(tmp_path: Path, idp: OidcIssuer) -> Settings:
    """Credentials required; one trusted OIDC issuer."""
    return make_settings(tmp_path, trusted_issuers=(idp.trusted(tmp_path / "jwks.json"),))


@pytest.fixture
def world(settings: Settings) -> World:
    """The seeded identities."""
    return seed(settings)


@pytest.fixture
def client(settings: Settings, world: World) -> Iterator[TestClient]:
    """The app, started after seeding, with team/app and other pushed."""
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        push_image(test_client, operator(), "team/app")
        push_image(test_client, operator(), "other")
        yield test_client


def _pull(client: TestClient, authorization: str, repo: str = "team/app") -> int:
    response = client.get(f"/v2/{repo}/manifests/v1", headers=headers(authorization=authorization))
    return response.status_code


def test_docker_token_flow(client: TestClient) -> None:
    challenge = client.get("/v2/team/app/manifests/v1", headers=headers())
    assert challenge.status_code == 401
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge.headers["WWW-Authenticate"]))
    assert fields["realm"] == "http://contoso.localhost/oauth2/token"
    response = client.get(
        "/oauth2/token",
        params={"service": fields["service"], "scope": fields["scope"]},
        headers=headers(authorization=basic(*World.login("rw-token"))),
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    answer = response.json()
    assert answer["token"] == answer["access_token"]
    assert answer["expires_in"] == 900
    assert answer["issued_at"].endswith("Z")
    assert "refresh_token" not in answer
    assert _pull(client, "Bearer " + answer["token"]) == 200


def test_access_token_carries_only_granted_part(client: TestClient, world: World) -> None:
    scopes = [
        "repository:team/app:pull,push,delete",
        "repository:other:pull",
        "repository:team/app2:*",
        "registry:catalog:*",
    ]
    response = get_token(client, scopes, basic(*World.login("ro-token")))
    claims = claims_of(response.json()["access_token"])
    assert claims["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    assert (claims["sub"], claims["kind"], claims["aud"]) == ("ro-token", "token", CONTOSO)
    assert claims["reg"] == world.contoso_id and claims["grant_type"] == "access_token"
    rw = get_token(client, ["repository:team/app2:*"], basic(*World.login("rw-token")))
    assert claims_of(rw.json()["access_token"])["access"] == [
        {"type": "repository", "name": "team/app2", "actions": ["pull", "push"]}
    ]
    wrong = get_token(client, scopes, basic(*World.login("ro-token")), service="elsewhere")
    assert wrong.status_code == 400


def test_bearer_lacking_scope_gets_insufficient_scope(client: TestClient) -> None:
    token = bearer_for(client, [PULL_APP], basic(*World.login("rw-token")))
    assert _pull(client, token) == 200
    push = client.post("/v2/team/app/blobs/uploads/", headers=headers(authorization=token))
    assert push.status_code == 401
    assert push.headers["WWW-Authenticate"] == (
        'Bearer realm="http://contoso.localhost/oauth2/token",service="contoso.localhost",'
        'scope="repository:team/app:pull,push",error="insufficient_scope"'
    )
    assert _pull(client, token, "other") == 401
    # An access token is not a password.
    raw = token.removeprefix("Bearer ")
    assert _pull(client, basic("rw-token", raw)) == 401


def test_offline_token_and_refresh_grant(client: TestClient) -> None:
    login = basic(*World.login("rw-token"))
    answer = get_token(client, [PULL_APP], login, offline_token="true").json()
    refresh = answer["refresh_token"]
    assert claims_of(refresh)["grant_type"] == "refresh_token"
    assert "access" not in claims_of(refresh)
    # A refresh token is not an access token, nor the reverse.
    assert _pull(client, "Bearer " + refresh) == 401
    form = {"grant_type": "refresh_token", "refresh_token": answer["access_token"]}
    rejected = client.post("/oauth2/token", data={**form, "service": CONTOSO}, headers=headers())
    assert rejected.status_code == 401
    form = {"grant_type": "refresh_token", "service": CONTOSO, "scope": PULL_APP}
    posted = client.post(
        "/oauth2/token", data={**form, "refresh_token": refresh}, headers=headers()
    )
    assert posted.status_code == 200
    assert _pull(client, "Bearer " + posted.json()["access_token"]) == 200
    # Refresh tokens belong to the registry that issued them.
    other = client.post(
        "/oauth2/token",
        data={**form, "service": FABRIKAM, "refresh_token": refresh},
        headers=headers(FABRIKAM),
    )
    assert other.status_code == 401


def test_password_grant(client: TestClient) -> None:
    user, password = World.login("rw-token")
    form = {"grant_type": "password", "service": CONTOSO, "scope": PULL_APP}
    answer = client.post(
        "/oauth2/token",
        data={**form, "username": user, "password": password, "access_type": "offline"},
        headers=headers(),
    ).json()
    assert _pull(client, "Bearer " + answer["access_token"]) == 200
    assert claims_of(answer["refresh_token"])["sub"] == "rw-token"
    bad = client.post(
        "/oauth2/token", data={**form, "username": user, "password": "x"}, headers=headers()
    )
    assert bad.status_code == 401 and error_code(bad) == "UNAUTHORIZED"
    anonymous = client.post("/oauth2/token", data=form, headers=headers())
    assert anonymous.status_code == 200
    assert claims_of(anonymous.json()["access_token"])["access"] == []


def test_null_guid_with_refresh_token(client: TestClient) -> None:
    login = basic(*World.login(SP_PULL))
    refresh = get_token(client, [], login, offline_token="true").json()["refresh_token"]
    as_basic = refresh_basic(refresh)
    assert client.get("/v2/", headers=headers(authorization=as_basic)).status_code == 200
    assert _pull(client, as_basic, "other") == 200
    token = bearer_for(client, ["repository:other:pull"], as_basic)
    assert _pull(client, token, "other") == 200
    assert claims_of(token.removeprefix("Bearer "))["sub"] == SP_PULL
    assert _pull(client, basic(NULL_GUID, "not-a-token")) == 401
    fabrikam = basic(*World.login("fabrikam"))
    foreign = get_token(client, [], fabrikam, FABRIKAM, offline_token="true").json()
    assert _pull(client, refresh_basic(foreign["refresh_token"])) == 401


def test_disabling_a_token_revokes_its_access_tokens(
    client: TestClient, settings: Settings, world: World
) -> None:
    token = bearer_for(client, [PULL_APP], basic(*World.login("rw-token")))
    assert _pull(client, token) == 200

    async def disable(db: Database) -> None:
        assert await TokenStore(db).update(world.contoso_id, "rw-token", enabled=False)

    run_db(settings, disable)
    assert _pull(client, token) == 401
    assert _pull(client, basic(*World.login("rw-token"))) == 401


def test_deleting_a_role_assignment_revokes_at_once(
    client: TestClient, settings: Settings, world: World
) -> None:
    login = basic(*World.login(SP_PULL))
    token = bearer_for(client, [PULL_APP, "repository:other:pull"], login)
    refresh = get_token(client, [], login, offline_token="true").json()["refresh_token"]
    assert _pull(client, token) == 200

    async def unassign(db: Database) -> None:
        roles = RoleAssignmentStore(db)
        (assignment,) = await roles.list(world.contoso_id, SP_PULL)
        assert await roles.delete(assignment.id)

    run_db(settings, unassign)
    assert _pull(client, token) == 401
    assert _pull(client, token, "other") == 401
    assert _pull(client, login) == 403
    assert _pull(client, refresh_basic(refresh)) == 403


@pytest.mark.parametrize("owner", ["contoso", "rw-token", SP_PULL])
def test_renewing_a_password_revokes_tokens_it_issued(
    client: TestClient, settings: Settings, world: World, owner: str
) -> None:
    old = basic(*World.login(owner))
    token = bearer_for(client, [PULL_APP], old)
    refresh = get_token(client, [], old, offline_token="true").json()["refresh_token"]
    assert _pull(client, token) == 200
    kind, owner_id, name = {
        "contoso": ("admin", str(world.contoso_id), "password"),
        "rw-token": ("token", str(world.token_ids["rw-token"]), "password1"),
        SP_PULL: ("sp", SP_PULL, "password1"),
    }[owner]

    async def renew(db: Database) -> None:
        registry_id = None if kind == "sp" else world.contoso_id
        encoded = HASHER.hash("renewed-secret")
        await CredentialStore(db).put(kind, owner_id, name, encoded, registry_id=registry_id)

    run_db(settings, renew)
    assert _pull(client, token) == 401
    assert _pull(client, refresh_basic(refresh)) == 401
    assert _pull(client, old) == 401
    assert _pull(client, basic(owner, "renewed-secret")) == 200


def test_other_password_keeps_its_tokens(
    client: TestClient, settings: Settings, world: World
) -> None:
    def login(password: str) -> str:
        return basic(*World.login("aging-token", password))

    assert _pull(client, login("password1")) == 401  # expired
    token = bearer_for(client, [PULL_APP], login("password2"))
    assert get_token(client, [PULL_APP], login("password1")).status_code == 401
    owner = str(world.token_ids["aging-token"])

    async def add_password1(db: Database) -> None:
        encoded = HASHER.hash("fresh")
        await CredentialStore(db).put(
            "token", owner, "password1", encoded, registry_id=world.contoso_id
        )

    run_db(settings, add_password1)
    assert _pull(client, token) == 200
    assert _pull(client, basic("aging-token", "fresh")) == 200


def test_exchange_then_group_assignment_grants(client: TestClient, idp: OidcIssuer) -> None:
    push_image(client, operator(), "teamx/app")
    response = exchange(client, idp.token())
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    refresh = response.json()["refresh_token"]
    claims = claims_of(refresh)
    assert (claims["sub"], claims["kind"], claims["groups"]) == (
        "ci-job",
        "federated",
        [RELEASE_GROUP],
    )
    form = {"grant_type": "refresh_token", "service": CONTOSO, "refresh_token": refresh}
    scopes = {"scope": "repository:teamx/app:pull,push repository:team/app:pull"}
    issued = client.post("/oauth2/token", data={**form, **scopes}, headers=headers())
    assert claims_of(issued.json()["access_token"])["access"] == [
        {"type": "repository", "name": "teamx/app", "actions": ["pull", "push"]}
    ]
    token = "Bearer " + issued.json()["access_token"]
    assert _pull(client, token, "teamx/app") == 200
    assert _pull(client, token) == 401
    # Without the group, the same subject is granted nothing.
    lonely = exchange(client, idp.token(groups=[])).json()["refresh_token"]
    assert _pull(client, refresh_basic(lonely), "teamx/app") == 403


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://evil.example/"},
        {"aud": "api://someone-else"},
        {"exp": 1_000_000, "iat": 999_000, "nbf": 999_000},
        {"sub": ""},
    ],
    ids=["unknown-issuer", "wrong-audience", "expired", "no-subject"],
)
def test_exchange_refuses_bad_tokens(
    client: TestClient, idp: OidcIssuer, claims: dict[str, object]
) -> None:
    response = exchange(client, idp.token(**claims))
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"


def test_exchange_refuses_tokens_of_another_key(client: TestClient) -> None:
    impostor = OidcIssuer()  # same issuer name, its own key
    assert exchange(client, impostor.token()).status_code == 401


def test_exchange_without_trusted_issuers_is_denied(tmp_path: Path, idp: OidcIssuer) -> None:
    settings = make_settings(tmp_path)
    seed(settings)
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        response = exchange(client, idp.token())
    assert response.status_code == 403
    assert error_code(response) == "DENIED"


def test_keys_verify_issued_tokens(client: TestClient) -> None:
    token = bearer_for(client, [PULL_APP], basic(*World.login("rw-token"))).removeprefix("Bearer ")
    jwks = client.get("/oauth2/keys", headers=headers()).json()
    kid = jwt.get_unverified_header(token)["kid"]
    (key,) = [k for k in jwks["keys"] if k["kid"] == kid]
    assert "d" not in key and key["use"] == "sig"
    verified = jwt.decode(token, jwt.PyJWK(key).key, algorithms=[key["alg"]], audience=CONTOSO)
    assert verified["sub"] == "rw-token" and verified["iss"] == "portside"
