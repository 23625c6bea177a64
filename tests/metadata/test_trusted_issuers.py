"""Stored trusted issuers and their version, on every metadata backend (see conftest.py)."""

from __future__ import annotations

import asyncio

import pytest

from portside.metadata.database import Database
from portside.metadata.registries import RegistryStore
from portside.metadata.trusted_issuers import TrustedIssuerStore

pytestmark = pytest.mark.anyio

ISSUER = "https://idp.example/v2.0"


async def test_every_change_moves_the_version(db: Database) -> None:
    store = TrustedIssuerStore(db)
    assert await store.version() == 0
    created = await store.create("idp", ISSUER, "aud", jwks_url="https://idp.example/keys")
    assert created is not None and created.groups_claim == "groups" and created.jwks is None
    assert await store.version() == 1
    assert await store.create("idp", "https://other", "aud", jwks_url="https://k") is None
    assert await store.create("other", ISSUER, "aud", jwks_url="https://k") is None
    assert await store.version() == 1

    updated = await store.update("idp", {"jwks": '{"keys":[]}', "jwks_url": None, "tenant": "t"})
    assert updated is not None and updated.jwks_url is None and updated.tenant == "t"
    assert updated.updated_at >= created.updated_at
    assert await store.version() == 2
    assert await store.update("nosuch", {"tenant": None}) is None
    with pytest.raises(ValueError, match="issuer"):
        await store.update("idp", {"issuer": "https://elsewhere"})
    assert [r.name for r in await store.list()] == ["idp"]


async def test_deleting_an_issuer_moves_every_registry_auth_version(db: Database) -> None:
    store, registries = TrustedIssuerStore(db), RegistryStore(db)
    for name in ("contoso", "fabrikam"):
        await registries.ensure(name)
    await store.create("idp", ISSUER, "aud", jwks_url="https://k")
    before = {r.name: r.auth_version for r in await registries.list()}
    removed = await store.delete("idp")
    assert removed is not None and removed.issuer == ISSUER
    after = {r.name: r.auth_version for r in await registries.list()}
    assert all(after[name] == before[name] + 1 for name in before)
    assert await store.get("idp") is None
    assert await store.delete("idp") is None
    assert await store.version() == 2


async def test_concurrent_creations_of_one_issuer_store_one(db: Database) -> None:
    store = TrustedIssuerStore(db)
    made = await asyncio.gather(
        *(store.create(f"idp{n}", ISSUER, "aud", jwks_url="https://k") for n in range(4))
    )
    assert sum(record is not None for record in made) == 1
    assert len(await store.list()) == 1
