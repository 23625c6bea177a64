"""The management API: registries, admin-user credentials, repositories, login, the OpenAPI
document, and the shape of errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from portside.auth.tokens import InvalidToken
from portside.config import Settings
from portside.metadata.registries import RegistryStore
from tests.management_harness import API, Harness, basic, management_harness


@pytest.fixture
def mgmt(settings: Settings) -> Iterator[Harness]:
    """The management app over a fresh database."""
    with management_harness(settings) as harness:
        yield harness


def test_default_registry_is_listed_at_the_servers_own_address(mgmt: Harness) -> None:
    listed = mgmt.client.get(f"{API}/registries", headers=mgmt.admin)
    assert listed.status_code == 200
    assert listed.json() == [
        {
            "name": "default",
            "loginServer": "127.0.0.1:5000",
            "sku": "Standard",
            "adminUserEnabled": False,
            "anonymousPullEnabled": False,
            "immutableTagsEnabled": False,
            "creationDate": listed.json()[0]["creationDate"],
            "default": True,
            "storageBytes": 0,
        }
    ]


def test_create_show_update_delete_registry(mgmt: Harness) -> None:
    client, admin = mgmt.client, mgmt.admin
    created = client.post(
        f"{API}/registries", headers=admin, json={"name": "team1", "sku": "Premium"}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["loginServer"] == "127.0.0.1:5001"
    assert body["sku"] == "Premium"
    assert body["default"] is False
    assert "passwords" not in body
    assert client.get(f"{API}/registries/team1", headers=admin).json() == body
    assert client.get(f"{API}/registries/TEAM1", headers=admin).json()["name"] == "team1"

    updated = client.patch(
        f"{API}/registries/team1",
        headers=admin,
        json={"anonymousPullEnabled": True, "immutableTagsEnabled": True},
    )
    assert updated.status_code == 200
    assert updated.json()["anonymousPullEnabled"] is True
    assert updated.json()["immutableTagsEnabled"] is True
    assert updated.json()["sku"] == "Premium"

    assert client.delete(f"{API}/registries/team1", headers=admin).status_code == 204
    missing = client.get(f"{API}/registries/team1", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ResourceNotFound"


def test_registry_gets_the_three_system_scope_maps(mgmt: Harness) -> None:
    mgmt.client.post(f"{API}/registries", headers=mgmt.admin, json={"name": "team1"})
    maps = mgmt.client.get(f"{API}/registries/team1/scope-maps", headers=mgmt.admin).json()
    by_name = {m["name"]: m for m in maps}
    assert set(by_name) == {"_repositories_admin", "_repositories_pull", "_repositories_push"}
    assert all(m["type"] == "SystemDefined" for m in maps)
    assert by_name["_repositories_pull"]["actions"] == ["repositories/*/content/read"]
    assert by_name["_repositories_push"]["actions"] == [
        "repositories/*/content/read",
        "repositories/*/content/write",
    ]
    assert len(by_name["_repositories_admin"]["actions"]) == 5


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Team1", "must be lowercase"),
        ("a", "invalid registry name"),
        ("1abc", "invalid registry name"),
        ("my-reg", "invalid registry name"),
        ("x" * 51, "invalid registry name"),
    ],
)
def test_bad_registry_names_are_refused(mgmt: Harness, name: str, fragment: str) -> None:
    answer = mgmt.client.post(f"{API}/registries", headers=mgmt.admin, json={"name": name})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidRequest"
    assert fragment in answer.json()["error"]["message"]


def test_duplicate_registry_unknown_sku_and_default_deletion(mgmt: Harness) -> None:
    client, admin = mgmt.client, mgmt.admin
    assert client.post(f"{API}/registries", headers=admin, json={"name": "ab"}).status_code == 201
    again = client.post(f"{API}/registries", headers=admin, json={"name": "ab"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "Conflict"
    sku = client.post(f"{API}/registries", headers=admin, json={"name": "cd", "sku": "Gold"})
    assert sku.status_code == 400
    assert "unknown SKU" in sku.json()["error"]["message"]
    default = client.delete(f"{API}/registries/default", headers=admin)
    assert default.status_code == 409


def test_admin_user_passwords_are_shown_once_then_only_named(mgmt: Harness) -> None:
    client, admin = mgmt.client, mgmt.admin
    client.post(f"{API}/registries", headers=admin, json={"name": "team1"})
    disabled = client.get(f"{API}/registries/team1/credentials", headers=admin).json()
    assert disabled == {"username": "team1", "adminUserEnabled": False, "passwords": []}
    renew_disabled = client.post(
        f"{API}/registries/team1/credentials/renew", headers=admin, json={"name": "password"}
    )
    assert renew_disabled.status_code == 409

    enabled = client.patch(
        f"{API}/registries/team1", headers=admin, json={"adminUserEnabled": True}
    )
    passwords = enabled.json()["passwords"]
    assert [p["name"] for p in passwords] == ["password", "password2"]
    assert all(len(p["value"]) == 43 for p in passwords)

    shown = client.get(f"{API}/registries/team1/credentials", headers=admin).json()
    assert shown["adminUserEnabled"] is True
    assert [p["name"] for p in shown["passwords"]] == ["password", "password2"]
    assert all("value" not in p for p in shown["passwords"])
    # Enabling again does not generate new passwords: the existing ones stay valid.
    again = client.patch(f"{API}/registries/team1", headers=admin, json={"adminUserEnabled": True})
    assert "passwords" not in again.json()

    renewed = client.post(
        f"{API}/registries/team1/credentials/renew", headers=admin, json={"name": "password2"}
    ).json()
    values = {p["name"]: p.get("value") for p in renewed["passwords"]}
    assert values["password"] is None
    assert values["password2"] is not None
    assert values["password2"] != passwords[1]["value"]
    bad = client.post(
        f"{API}/registries/team1/credentials/renew", headers=admin, json={"name": "password3"}
    )
    assert bad.status_code == 400


def test_create_with_admin_enabled_returns_the_passwords(mgmt: Harness) -> None:
    created = mgmt.client.post(
        f"{API}/registries", headers=mgmt.admin, json={"name": "team1", "adminUserEnabled": True}
    ).json()
    assert created["adminUserEnabled"] is True
    assert [p["name"] for p in created["passwords"]] == ["password", "password2"]


def test_repository_anonymous_pull(mgmt: Harness) -> None:
    mgmt.add_repository("default", "team/app")
    path = f"{API}/registries/default/repositories/team/app"
    answer = mgmt.client.patch(path, headers=mgmt.admin, json={"anonymousPullEnabled": True})
    assert answer.status_code == 200
    assert answer.json() == {
        "registry": "default",
        "name": "team/app",
        "anonymousPullEnabled": True,
    }

    async def public() -> set[str]:
        record = await mgmt.service.registries.show("default")
        return await RegistryStore(mgmt.db).anonymous_repositories(record.record.id, ["team/app"])

    assert mgmt.run(public) == {"team/app"}
    missing = mgmt.client.patch(
        f"{API}/registries/default/repositories/nothere",
        headers=mgmt.admin,
        json={"anonymousPullEnabled": True},
    )
    assert missing.status_code == 404
    bad = mgmt.client.patch(
        f"{API}/registries/default/repositories/Bad..Name",
        headers=mgmt.admin,
        json={"anonymousPullEnabled": True},
    )
    assert bad.status_code == 400


def test_login_issues_a_refresh_token_for_the_login_server(mgmt: Harness) -> None:
    mgmt.client.post(f"{API}/registries", headers=mgmt.admin, json={"name": "team1"})
    answer = mgmt.client.post(f"{API}/registries/team1/login", headers=mgmt.admin)
    assert answer.status_code == 200
    body = answer.json()
    assert body["loginServer"] == "127.0.0.1:5001"

    async def claims() -> dict[str, object]:
        return await mgmt.keys.verify(body["refreshToken"], kind="refresh_token")

    verified = mgmt.run(claims)
    registry_id = mgmt.run(mgmt.service.registries.show, "team1").record.id
    assert verified["aud"] == "127.0.0.1:5001"
    assert verified["sub"] == "admin"
    assert verified["kind"] == "deployment"
    assert verified["reg"] == registry_id
    assert verified["exp"] - verified["iat"] == 3600  # type: ignore[operator]
    default = mgmt.client.post(f"{API}/registries/default/login", headers=mgmt.admin).json()
    assert default["loginServer"] == "127.0.0.1:5000"


def test_signing_key_rotation_keeps_old_tokens_valid(mgmt: Harness) -> None:
    old = mgmt.client.post(f"{API}/registries/default/login", headers=mgmt.admin).json()
    rotated = mgmt.client.post(f"{API}/signing-keys/rotate", headers=mgmt.admin, json={})
    assert rotated.status_code == 200
    kid = rotated.json()["kid"]
    new = mgmt.client.post(f"{API}/registries/default/login", headers=mgmt.admin).json()

    async def kids() -> list[str]:
        for token in (old["refreshToken"], new["refreshToken"]):
            await mgmt.keys.verify(token, kind="refresh_token")
        return [jwt.get_unverified_header(t["refreshToken"])["kid"] for t in (old, new)]

    old_kid, new_kid = mgmt.run(kids)
    assert new_kid == kid != old_kid
    rsa = mgmt.client.post(
        f"{API}/signing-keys/rotate", headers=mgmt.admin, json={"algorithm": "RS256"}
    )
    assert rsa.status_code == 200
    bad = mgmt.client.post(
        f"{API}/signing-keys/rotate", headers=mgmt.admin, json={"algorithm": "HS256"}
    )
    assert bad.status_code == 400


def test_retiring_a_signing_key_ends_its_tokens(mgmt: Harness) -> None:
    old = mgmt.client.post(f"{API}/registries/default/login", headers=mgmt.admin).json()
    old_kid = jwt.get_unverified_header(old["refreshToken"])["kid"]
    signing = mgmt.client.delete(f"{API}/signing-keys/{old_kid}", headers=mgmt.admin)
    assert signing.status_code == 400  # the key that signs: rotate first
    new_kid = mgmt.client.post(f"{API}/signing-keys/rotate", headers=mgmt.admin, json={})
    assert new_kid.status_code == 200
    unknown = mgmt.client.delete(f"{API}/signing-keys/no-such-key", headers=mgmt.admin)
    assert unknown.status_code == 404
    retired = mgmt.client.delete(f"{API}/signing-keys/{old_kid}", headers=mgmt.admin)
    assert retired.status_code == 204

    async def refused() -> bool:
        try:
            await mgmt.keys.verify(old["refreshToken"], kind="refresh_token")
        except InvalidToken:
            return True
        return False

    assert mgmt.run(refused)
    again = mgmt.client.delete(f"{API}/signing-keys/{old_kid}", headers=mgmt.admin)
    assert again.status_code == 404


def test_openapi_document_lists_every_route(mgmt: Harness) -> None:
    document = mgmt.client.get(f"{API}/openapi.json")
    assert document.status_code == 200
    schema = document.json()
    assert schema["servers"] == [{"url": "/api/v1"}]
    assert set(schema["paths"]) == {
        "/registries",
        "/registries/{name}",
        "/registries/{name}/credentials",
        "/registries/{name}/credentials/renew",
        "/registries/{name}/tokens",
        "/registries/{name}/tokens/{token}",
        "/registries/{name}/tokens/{token}/credentials",
        "/registries/{name}/tokens/{token}/credentials/{password}",
        "/registries/{name}/scope-maps",
        "/registries/{name}/scope-maps/{scope_map}",
        "/service-principals",
        "/service-principals/{principal_id}",
        "/service-principals/{principal_id}/credentials",
        "/role-assignments",
        "/registries/{name}/role-assignments",
        "/registries/{name}/role-assignments/{assignment_id}",
        "/registries/{name}/repositories/{repository}",
        "/signing-keys/rotate",
        "/signing-keys/{kid}",
        "/trusted-issuers",
        "/trusted-issuers/{name}",
        "/registries/{name}/login",
        "/registries/{name}/usage",
        "/registries/{name}/policies",
        "/registries/{name}/retention-rules",
        "/registries/{name}/retention-rules/{rule_id}",
        "/registries/{name}/deleted-repositories",
        "/registries/{name}/deleted-manifests",
        "/registries/{name}/deleted-tags",
        "/registries/{name}/deleted-manifests/restore",
        "/registries/{name}/purge",
        "/registries/{name}/webhooks",
        "/registries/{name}/webhooks/{webhook}",
        "/registries/{name}/audit",
        "/audit",
        "/registries/{name}/webhooks/{webhook}/config",
        "/registries/{name}/webhooks/{webhook}/ping",
        "/registries/{name}/webhooks/{webhook}/events",
        "/registries/{name}/webhooks/{webhook}/events/{event}/redeliver",
        "/registries/{name}/credentialSets",
        "/registries/{name}/credentialSets/{credential_set}",
        "/registries/{name}/imports",
        "/registries/{name}/imports/{job}",
        "/registries/{name}/cacheRules",
        "/registries/{name}/cacheRules/{rule}",
        "/registries/{name}/replications",
        "/registries/{name}/replications/status",
        "/registries/{name}/replications/{location}",
    }
    assert schema["components"]["securitySchemes"]["basic"]["scheme"] == "basic"
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert all("422" not in op["responses"] for op in operations)
    assert all("400" in op["responses"] for op in operations)
    assert "adminUserEnabled" in schema["components"]["schemas"]["Registry"]["properties"]
    docs = mgmt.client.get(f"{API}/docs")
    assert docs.status_code == 200
    assert "/api/v1/openapi.json" in docs.text


def test_bad_input_answers_400_in_the_error_shape(mgmt: Harness) -> None:
    client, admin = mgmt.client, mgmt.admin
    json_headers = {**admin, "Content-Type": "application/json"}
    cases = [
        client.post(f"{API}/registries", headers=json_headers, content=b"{not json"),
        client.post(f"{API}/registries", headers=admin, json={"name": "ab", "colour": "red"}),
        client.post(f"{API}/registries", headers=admin, json={"name": 5}),
        client.post(f"{API}/registries", headers=admin, json=["ab"]),
        client.post(f"{API}/registries", headers=admin),
        client.patch(
            f"{API}/registries/default", headers=admin, json={"adminUserEnabled": "maybe"}
        ),
        client.delete(
            f"{API}/registries/default/role-assignments/99999999999999999999", headers=admin
        ),
        client.get(f"{API}/registries/{'x' * 5000}", headers=admin),
    ]
    for answer in cases[:-1]:
        assert answer.status_code == 400, answer.text
        assert set(answer.json()) == {"error"}
        assert set(answer.json()["error"]) == {"code", "message"}
    assert cases[-1].status_code == 404
    unknown_route = client.get(f"{API}/nothing", headers=admin)
    assert unknown_route.status_code == 404
    assert unknown_route.json()["error"]["code"] == "NotFound"
    wrong_method = client.put(f"{API}/registries", headers=admin)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "MethodNotAllowed"


def test_missing_credentials_get_a_basic_challenge(mgmt: Harness) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!"},
        basic("admin", "wrong"),
    ):
        answer = mgmt.client.get(f"{API}/registries", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="portside-management"'
        assert answer.json()["error"]["code"] == "Unauthorized"


def test_control_characters_never_reach_the_database(db_url: str, tmp_path: Path) -> None:
    """NUL and friends answer 400 or 404 on every backend (PostgreSQL refuses NUL in text)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url)
    with management_harness(settings) as mgmt:
        client, admin = mgmt.client, mgmt.admin
        client.post(
            f"{API}/registries/default/tokens",
            headers=admin,
            json={"name": "token1", "scopeMap": "_repositories_pull"},
        )
        answers = [
            client.get(f"{API}/registries/de%00fault", headers=admin),
            client.get(f"{API}/registries/default/tokens/tok%00en1", headers=admin),
            client.get(f"{API}/registries/default/scope-maps/_repo%00", headers=admin),
            client.patch(
                f"{API}/registries/default/tokens/token1",
                headers=admin,
                json={"scopeMap": "a\u0000b"},
            ),
            client.delete(
                f"{API}/registries/default/tokens/token1/credentials/pa%00", headers=admin
            ),
            client.get(
                f"{API}/registries/default/role-assignments",
                headers=admin,
                params={"assignee": "a\u0000"},
            ),
            client.post(f"{API}/service-principals", headers=admin, json={"name": "a\u0000"}),
            client.post(
                f"{API}/registries/default/scope-maps",
                headers=admin,
                json={"name": "maps1", "actions": [], "description": "\u0000"},
            ),
            client.get(f"{API}/service-principals/a%00", headers=admin),
        ]
        assert [a.status_code for a in answers] == [404, 404, 404, 404, 404, 400, 400, 400, 404]


@pytest.mark.parametrize(
    "change", [{"host": "0.0.0.0"}, {"local_login_ports": 0}], ids=["off-loopback", "switched-off"]
)
def test_without_loopback_login_servers_a_registry_answers_at_its_name(
    settings: Settings, change: dict[str, object]
) -> None:
    with management_harness(settings.model_copy(update=change)) as mgmt:
        created = mgmt.client.post(f"{API}/registries", headers=mgmt.admin, json={"name": "team1"})
        assert created.json()["loginServer"] == "team1.localhost:5000"
        login = mgmt.client.post(f"{API}/registries/team1/login", headers=mgmt.admin)
        assert login.json()["loginServer"] == "team1.localhost:5000"
