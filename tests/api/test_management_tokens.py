"""The management API: tokens and scope maps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portside.config import Settings
from tests.management_harness import API, Harness, management_harness

REG = f"{API}/registries/default"


@pytest.fixture
def mgmt(settings: Settings) -> Iterator[Harness]:
    """The management app over a fresh database."""
    with management_harness(settings) as harness:
        yield harness


def test_scope_map_lifecycle(mgmt: Harness) -> None:
    client, admin = mgmt.client, mgmt.admin
    created = client.post(
        f"{REG}/scope-maps",
        headers=admin,
        json={
            "name": "readers",
            "actions": ["repositories/team/*/content/read", "repositories/app/metadata/read"],
            "description": "CI readers",
        },
    )
    assert created.status_code == 201
    assert created.json()["type"] == "UserDefined"
    assert created.json()["actions"] == [
        "repositories/team/*/content/read",
        "repositories/app/metadata/read",
    ]
    updated = client.patch(
        f"{REG}/scope-maps/readers",
        headers=admin,
        json={
            "addActions": ["repositories/app/content/write"],
            "removeActions": ["repositories/app/metadata/read", "repositories/nope/content/read"],
            "description": "CI",
        },
    ).json()
    assert updated["actions"] == [
        "repositories/team/*/content/read",
        "repositories/app/content/write",
    ]
    assert updated["description"] == "CI"
    shown = client.get(f"{REG}/scope-maps/readers", headers=admin).json()
    assert shown == updated
    names = [m["name"] for m in client.get(f"{REG}/scope-maps", headers=admin).json()]
    assert names == ["_repositories_admin", "_repositories_pull", "_repositories_push", "readers"]
    assert client.delete(f"{REG}/scope-maps/readers", headers=admin).status_code == 204
    assert client.get(f"{REG}/scope-maps/readers", headers=admin).status_code == 404
    taken = client.post(
        f"{REG}/scope-maps", headers=admin, json={"name": "_repositories_pull", "actions": []}
    )
    assert taken.status_code == 400


@pytest.mark.parametrize(
    "action",
    [
        "content/read",
        "repositories/app/content/execute",
        "repositories/App/content/read",
        "repositories//content/read",
        "registry/catalog/read",
    ],
)
def test_bad_scope_map_actions_are_refused_with_a_clear_message(mgmt: Harness, action: str) -> None:
    answer = mgmt.client.post(
        f"{REG}/scope-maps", headers=mgmt.admin, json={"name": "readers", "actions": [action]}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("invalid scope-map action")


def test_system_scope_maps_cannot_change(mgmt: Harness) -> None:
    client, admin = mgmt.client, mgmt.admin
    change = client.patch(
        f"{REG}/scope-maps/_repositories_pull", headers=admin, json={"description": "x"}
    )
    assert change.status_code == 400
    assert "system scope map" in change.json()["error"]["message"]
    delete = client.delete(f"{REG}/scope-maps/_repositories_pull", headers=admin)
    assert delete.status_code == 400


def test_token_with_existing_scope_map_and_its_passwords(mgmt: Harness) -> None:
    client, admin = mgmt.client, mgmt.admin
    created = client.post(
        f"{REG}/tokens",
        headers=admin,
        json={"name": "ci-pull", "scopeMap": "_repositories_pull", "expirationInDays": 30},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["scopeMap"] == "_repositories_pull"
    assert body["status"] == "enabled"
    passwords = body["credentials"]["passwords"]
    assert [p["name"] for p in passwords] == ["password1", "password2"]
    assert all(p["value"] and p["expiry"] for p in passwords)

    listed = client.get(f"{REG}/tokens", headers=admin).json()
    assert [t["name"] for t in listed] == ["ci-pull"]
    assert all("value" not in p for p in listed[0]["credentials"]["passwords"])

    generated = client.post(
        f"{REG}/tokens/ci-pull/credentials", headers=admin, json={"name": "password2"}
    )
    assert generated.status_code == 200
    assert generated.json()["name"] == "password2"
    assert generated.json()["value"] not in {p["value"] for p in passwords}
    assert "expiry" not in generated.json()

    in_use = client.delete(f"{REG}/scope-maps/_repositories_pull", headers=admin)
    assert in_use.status_code == 400  # a system map: refused before the in-use check

    assert (
        client.delete(f"{REG}/tokens/ci-pull/credentials/password1", headers=admin).status_code
        == 204
    )
    shown = client.get(f"{REG}/tokens/ci-pull", headers=admin).json()
    assert [p["name"] for p in shown["credentials"]["passwords"]] == ["password2"]
    assert (
        client.delete(f"{REG}/tokens/ci-pull/credentials/password1", headers=admin).status_code
        == 404
    )


def test_token_with_repositories_makes_a_scope_map(mgmt: Harness) -> None:
    client, admin = mgmt.client, mgmt.admin
    created = client.post(
        f"{REG}/tokens",
        headers=admin,
        json={
            "name": "hello-token",
            "repositories": [
                {"repository": "hello-world", "actions": ["content/write", "content/read"]},
                {"repository": "team/*", "actions": ["content/read"]},
            ],
            "status": "disabled",
            "noPasswords": True,
        },
    )
    assert created.status_code == 201
    assert created.json()["scopeMap"] == "hello-token-scope-map"
    assert created.json()["status"] == "disabled"
    assert created.json()["credentials"]["passwords"] == []
    made = client.get(f"{REG}/scope-maps/hello-token-scope-map", headers=admin).json()
    assert made["actions"] == [
        "repositories/hello-world/content/write",
        "repositories/hello-world/content/read",
        "repositories/team/*/content/read",
    ]
    # The map is in use: it cannot go while the token is bound to it.
    in_use = client.delete(f"{REG}/scope-maps/hello-token-scope-map", headers=admin)
    assert in_use.status_code == 409

    updated = client.patch(
        f"{REG}/tokens/hello-token",
        headers=admin,
        json={"scopeMap": "_repositories_push", "status": "enabled"},
    ).json()
    assert updated["scopeMap"] == "_repositories_push"
    assert updated["status"] == "enabled"
    assert (
        client.delete(f"{REG}/scope-maps/hello-token-scope-map", headers=admin).status_code == 204
    )
    assert client.delete(f"{REG}/tokens/hello-token", headers=admin).status_code == 204
    assert client.get(f"{REG}/tokens/hello-token", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"name": "abc", "scopeMap": "_repositories_pull"}, 400, "invalid token name"),
        ({"name": "bad_name", "scopeMap": "_repositories_pull"}, 400, "invalid token name"),
        ({"name": "default", "scopeMap": "_repositories_pull"}, 400, "registry's name"),
        (
            {"name": "00000000-0000-0000-0000-000000000000", "scopeMap": "_repositories_pull"},
            400,
            "UUID",
        ),
        ({"name": "token1"}, 400, "scope map or repositories"),
        ({"name": "token1", "scopeMap": "nosuchmap"}, 404, "does not exist"),
        (
            {"name": "token1", "repositories": [{"repository": "app", "actions": ["pull"]}]},
            400,
            "unknown action",
        ),
        ({"name": "token1", "scopeMap": "_repositories_pull", "status": "paused"}, 400, "status"),
        (
            {"name": "token1", "scopeMap": "_repositories_pull", "expirationInDays": 0},
            400,
            "expirationInDays",
        ),
    ],
)
def test_bad_token_requests(
    mgmt: Harness, body: dict[str, object], status: int, fragment: str
) -> None:
    answer = mgmt.client.post(f"{REG}/tokens", headers=mgmt.admin, json=body)
    assert answer.status_code == status, answer.text
    assert fragment in answer.json()["error"]["message"]


def test_token_name_conflicts(mgmt: Harness) -> None:
    client, admin = mgmt.client, mgmt.admin
    body = {"name": "token1", "scopeMap": "_repositories_pull"}
    assert client.post(f"{REG}/tokens", headers=admin, json=body).status_code == 201
    assert client.post(f"{REG}/tokens", headers=admin, json=body).status_code == 409
    shortcut = {
        "name": "token1",
        "repositories": [{"repository": "a", "actions": ["content/read"]}],
    }
    assert client.post(f"{REG}/tokens", headers=admin, json=shortcut).status_code == 409
    # No scope map was left behind by the refused shortcut.
    assert client.get(f"{REG}/scope-maps/token1-scope-map", headers=admin).status_code == 404
    bad_password = client.post(
        f"{REG}/tokens/token1/credentials", headers=admin, json={"name": "password3"}
    )
    assert bad_password.status_code == 400
    rebind = client.patch(f"{REG}/tokens/token1", headers=admin, json={"scopeMap": "nomap1"})
    assert rebind.status_code == 404
    assert client.patch(f"{REG}/tokens/nosuch", headers=admin, json={}).status_code == 404
