"""Quotas through the management API: the usage route, overrides by PATCH, and the tokens
and scope-maps quotas of the create routes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from portside.config import Settings
from portside.metadata.usage import GIB
from portside.services.management.errors import QuotaReached
from tests.management_harness import API, Harness, basic, management_harness

READ = ["repositories/*/content/read"]


@pytest.fixture
def mgmt(settings: Settings) -> Iterator[Harness]:
    """The management app over a fresh database, with registry `team1` (Standard)."""
    with management_harness(settings) as harness:
        created = harness.client.post(
            f"{API}/registries", headers=harness.admin, json={"name": "team1"}
        )
        assert created.status_code == 201, created.text
        yield harness


def usage(mgmt: Harness, registry: str = "team1") -> dict[str, Any]:
    """GET the usage of a registry."""
    response = mgmt.client.get(f"{API}/registries/{registry}/usage", headers=mgmt.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def patch(mgmt: Harness, **fields: object) -> Any:
    """PATCH the registry `team1`; the response."""
    return mgmt.client.patch(f"{API}/registries/team1", headers=mgmt.admin, json=fields)


def test_usage_of_a_new_registry_lists_every_quota_with_its_sku_default(mgmt: Harness) -> None:
    body = usage(mgmt)
    assert body == {
        "storage": {"used": 0, "limit": 100 * GIB},
        "repositories": {"used": 0, "limit": None},
        "tokens": {"used": 0, "limit": 500},
        "scopeMaps": {"used": 0, "limit": 500},  # the three system maps do not count
        "webhooks": {"used": 0, "limit": 10},
        "value": [
            {"name": "Size", "currentValue": 0, "limit": 100 * GIB, "unit": "Bytes"},
            {"name": "Repositories", "currentValue": 0, "limit": None, "unit": "Count"},
            {"name": "Tokens", "currentValue": 0, "limit": 500, "unit": "Count"},
            {"name": "ScopeMaps", "currentValue": 0, "limit": 500, "unit": "Count"},
            {"name": "Webhooks", "currentValue": 0, "limit": 10, "unit": "Count"},
        ],
    }
    mgmt.add_repository("team1", "hello")  # links a 1-byte blob
    mgmt.add_repository("team1", "world")  # the same blob: counted once
    created = mgmt.client.post(
        f"{API}/registries/team1/tokens",
        headers=mgmt.admin,
        json={
            "name": "ci-token",
            "repositories": [{"repository": "hello", "actions": ["content/read"]}],
        },
    )
    assert created.status_code == 201, created.text
    body = usage(mgmt)
    assert body["storage"]["used"] == 1
    assert body["repositories"]["used"] == 2
    assert body["tokens"]["used"] == 1
    assert body["scopeMaps"]["used"] == 1  # ci-token-scope-map
    shown = mgmt.client.get(f"{API}/registries/team1", headers=mgmt.admin).json()
    assert shown["storageBytes"] == 1
    assert usage(mgmt, "default")["repositories"]["used"] == 0
    missing = mgmt.client.get(f"{API}/registries/nothere/usage", headers=mgmt.admin)
    assert missing.status_code == 404


def test_overrides_are_shown_used_and_reset_by_null(mgmt: Harness) -> None:
    updated = patch(mgmt, quotaStorageBytes=5 * GIB, quotaTokens=3, quotaWebhooks=0)
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["quotaStorageBytes"], body["quotaTokens"], body["quotaWebhooks"]) == (
        5 * GIB,
        3,
        0,
    )
    assert "quotaRepositories" not in body and "quotaScopeMaps" not in body
    assert mgmt.client.get(f"{API}/registries/team1", headers=mgmt.admin).json() == body
    figures = usage(mgmt)
    assert figures["storage"]["limit"] == 5 * GIB
    assert figures["tokens"]["limit"] == 3
    assert figures["webhooks"]["limit"] == 0
    # Changing the SKU moves the defaults, not the overrides.
    assert patch(mgmt, sku="Basic").status_code == 200
    figures = usage(mgmt)
    assert (figures["storage"]["limit"], figures["scopeMaps"]["limit"]) == (5 * GIB, 100)
    # null goes back to the SKU's default; a field left out stays.
    body = patch(mgmt, quotaStorageBytes=None).json()
    assert "quotaStorageBytes" not in body and body["quotaTokens"] == 3
    assert usage(mgmt)["storage"]["limit"] == 10 * GIB
    for bad in ({"quotaTokens": -1}, {"quotaStorageBytes": "lots"}, {"quotaDisks": 3}):
        refused = patch(mgmt, **bad)
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["code"] == "InvalidRequestContent"
    assert usage(mgmt)["tokens"]["limit"] == 3


def test_tokens_quota_refuses_one_more_token(mgmt: Harness) -> None:
    assert patch(mgmt, quotaTokens=1).status_code == 200
    tokens = f"{API}/registries/team1/tokens"
    first = {"name": "token-one", "scopeMap": "_repositories_pull"}
    assert mgmt.client.post(tokens, headers=mgmt.admin, json=first).status_code == 201
    refused = mgmt.client.post(
        tokens, headers=mgmt.admin, json={"name": "token-two", "scopeMap": "_repositories_pull"}
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "QuotaExceeded",
        "message": "tokens quota of 1 reached: the registry cannot hold another token",
    }
    names = [t["name"] for t in mgmt.client.get(tokens, headers=mgmt.admin).json()]
    assert names == ["token-one"]
    assert mgmt.client.delete(f"{tokens}/token-one", headers=mgmt.admin).status_code == 204
    second = {"name": "token-two", "scopeMap": "_repositories_pull"}
    assert mgmt.client.post(tokens, headers=mgmt.admin, json=second).status_code == 201


def test_scope_maps_quota_counts_user_maps_only(mgmt: Harness) -> None:
    assert patch(mgmt, quotaScopeMaps=1).status_code == 200
    maps = f"{API}/registries/team1/scope-maps"
    first = {"name": "readers", "actions": READ}
    assert mgmt.client.post(maps, headers=mgmt.admin, json=first).status_code == 201
    refused = mgmt.client.post(maps, headers=mgmt.admin, json={"name": "writers", "actions": READ})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "QuotaExceeded"
    assert "scope maps quota of 1" in refused.json()["error"]["message"]
    # A token made with repositories needs a new scope map: refused, and no token is left.
    token = mgmt.client.post(
        f"{API}/registries/team1/tokens",
        headers=mgmt.admin,
        json={
            "name": "hello-token",
            "repositories": [{"repository": "hello", "actions": ["content/read"]}],
        },
    )
    assert token.status_code == 409
    assert "scope maps quota" in token.json()["error"]["message"]
    assert mgmt.client.get(f"{API}/registries/team1/tokens", headers=mgmt.admin).json() == []
    listed = mgmt.client.get(maps, headers=mgmt.admin).json()
    assert sorted(m["name"] for m in listed if m["type"] == "UserDefined") == ["readers"]
    assert len(listed) == 4  # and the three system maps


def test_concurrent_creations_never_pass_the_quota(mgmt: Harness) -> None:
    assert patch(mgmt, quotaScopeMaps=2).status_code == 200

    async def create_many() -> list[object]:
        return await asyncio.gather(
            *(mgmt.service.scope_maps.create("team1", f"map-{n:02}", READ) for n in range(6)),
            return_exceptions=True,
        )

    results = mgmt.run(create_many)
    assert all(not isinstance(r, BaseException) or isinstance(r, QuotaReached) for r in results)
    assert usage(mgmt)["scopeMaps"]["used"] <= 2
    made = [r for r in results if not isinstance(r, BaseException)]
    assert len(made) == usage(mgmt)["scopeMaps"]["used"]


def test_usage_needs_contributor_and_quotas_the_administrator(mgmt: Harness) -> None:
    principal, secret = mgmt.create_principal()
    url = f"{API}/registries/team1/usage"
    assert mgmt.client.get(url, headers=basic(principal, secret)).status_code == 403
    mgmt.assign("team1", "AcrPull", principal)
    assert mgmt.client.get(url, headers=basic(principal, secret)).status_code == 403
    mgmt.assign("team1", "Contributor", principal)
    assert mgmt.client.get(url, headers=basic(principal, secret)).status_code == 200
    # Quotas bound what a registry's own managers do: only the administrator changes them.
    as_contributor = basic(principal, secret)
    refused = patch_as(mgmt, as_contributor, quotaTokens=1000)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "AuthorizationFailed"
    assert "quotas" in refused.json()["error"]["message"]
    assert usage(mgmt)["tokens"]["limit"] == 500
    assert patch_as(mgmt, as_contributor, immutableTagsEnabled=True).status_code == 200


def patch_as(mgmt: Harness, headers: dict[str, str], **fields: object) -> Any:
    """PATCH the registry `team1` with other credentials; the response."""
    return mgmt.client.patch(f"{API}/registries/team1", headers=headers, json=fields)


def test_only_the_administrator_changes_the_sku(mgmt: Harness) -> None:
    principal, secret = mgmt.create_principal()
    mgmt.assign("team1", "Contributor", principal)
    as_contributor = basic(principal, secret)
    # Basic -> Premium would raise every default limit (tokens 500 -> 50,000).
    refused = patch_as(mgmt, as_contributor, sku="Premium")
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "AuthorizationFailed"
    assert "SKU" in refused.json()["error"]["message"]
    assert usage(mgmt)["tokens"]["limit"] == 500
    shown = mgmt.client.get(f"{API}/registries/team1", headers=mgmt.admin).json()
    assert shown["sku"] == "Standard"
    # Naming the SKU it already has changes nothing, so it is allowed (whole-object PATCHes).
    assert patch_as(mgmt, as_contributor, sku="Standard").status_code == 200
    assert patch(mgmt, sku="Premium").status_code == 200
    assert usage(mgmt)["tokens"]["limit"] == 50_000
