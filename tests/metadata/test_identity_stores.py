"""Registries, secrets, principals, role assignments, scope maps, tokens and signing keys, on
every metadata backend (see conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Table, func, select

from portside.metadata.credentials import CredentialStore
from portside.metadata.database import Database
from portside.metadata.errors import ScopeMapInUse
from portside.metadata.principals import RoleAssignmentStore, ServicePrincipalStore
from portside.metadata.records import RegistryRecord, SigningKeyRecord
from portside.metadata.registries import RegistryStore
from portside.metadata.repositories import ensure_repository
from portside.metadata.schema import role_assignments, scope_maps, tokens
from portside.metadata.scope_maps import ScopeMapStore, TokenStore
from portside.metadata.signing_keys import SigningKeyStore

pytestmark = pytest.mark.anyio

READ = ("repositories/team/*/content/read",)
SP = "0b6f2f59-1111-4c1e-9a55-2f0c8a9e6b01"
OTHER_SP = "0b6f2f59-2222-4c1e-9a55-2f0c8a9e6b01"


async def _version(db: Database, name: str = "contoso") -> int:
    record = await RegistryStore(db).get(name)
    assert record is not None
    return record.auth_version


async def _count(db: Database, table: Table, registry_id: int) -> int:
    query = select(func.count()).select_from(table).where(table.c.registry_id == registry_id)
    async with db.read() as conn:
        return int(await conn.scalar(query) or 0)


async def test_registry_create_get_list_update(db: Database) -> None:
    store = RegistryStore(db)
    created = await store.create("contoso", sku="Premium")
    assert created is not None and created.sku == "Premium" and not created.admin_enabled
    assert await store.create("contoso") is None
    assert await store.create("fabrikam") is not None
    assert [r.name for r in await store.list()] == ["contoso", "fabrikam"]
    assert await store.get("contoso") == created
    assert await store.get("nosuch") is None
    updated = await store.update("contoso", {"admin_enabled": True, "anonymous_pull": True})
    assert updated is not None and updated.admin_enabled and updated.anonymous_pull
    assert updated.auth_version == created.auth_version + 1
    assert await store.update("nosuch", {"admin_enabled": True}) is None
    with pytest.raises(ValueError, match="auth_version"):
        await store.update("contoso", {"auth_version": 0})
    with pytest.raises(ValueError, match="auth_version"):
        await store.create("x", auth_version=5)
    assert await store.get("x") is None


async def test_registry_ensure(db: Database) -> None:
    store = RegistryStore(db)
    first, created = await store.ensure("contoso")
    again, created_again = await store.ensure("contoso")
    assert created and not created_again and first == again


async def test_registry_delete_removes_everything_of_it(db: Database) -> None:
    registries, credentials = RegistryStore(db), CredentialStore(db)
    maps, token_store, roles = ScopeMapStore(db), TokenStore(db), RoleAssignmentStore(db)
    await ServicePrincipalStore(db).create(SP, "pipeline")
    await credentials.put("sp", SP, "secret1", "h-sp")
    records: dict[str, RegistryRecord] = {}
    token_ids: dict[str, int] = {}
    for name in ("contoso", "fabrikam"):
        record = await registries.create(name)
        assert record is not None
        records[name] = record
        await credentials.put("admin", str(record.id), "password", f"h-admin-{name}")
        await maps.create(record.id, "pull", READ)
        token = await token_store.create(record.id, "ci", "pull")
        assert token is not None
        token_ids[name] = token.id
        await credentials.put("token", str(token.id), "password1", f"h-token-{name}")
        await roles.create(record.id, "sp", SP, "AcrPull", "*")
        async with db.write() as conn:
            await ensure_repository(conn, record.id, "team/app")
    contoso = records["contoso"].id
    assert await registries.delete("contoso")
    assert not await registries.delete("contoso")
    assert await registries.get("contoso") is None
    assert await credentials.of("admin", str(contoso)) == []
    assert await credentials.of("token", str(token_ids["contoso"])) == []
    for table in (tokens, scope_maps, role_assignments):
        assert await _count(db, table, contoso) == 0
    # Fabrikam and the deployment-wide principal are untouched.
    fabrikam = records["fabrikam"].id
    assert len(await credentials.of("admin", str(fabrikam))) == 1
    assert len(await credentials.of("token", str(token_ids["fabrikam"]))) == 1
    assert await token_store.get(fabrikam, "ci") is not None
    assert len(await roles.list(fabrikam)) == 1
    assert [c.name for c in await credentials.of("sp", SP)] == ["secret1"]


Change = Callable[[Database, int], Awaitable[object]]


async def _setup(db: Database, registry_id: int) -> None:
    maps, token_store = ScopeMapStore(db), TokenStore(db)
    await maps.create(registry_id, "pull", READ)
    await maps.create(registry_id, "spare", READ)
    assert await token_store.create(registry_id, "ci", "pull") is not None
    await ServicePrincipalStore(db).create(SP, "pipeline")
    await RoleAssignmentStore(db).create(registry_id, "sp", SP, "AcrPull", "*")
    await CredentialStore(db).put("admin", str(registry_id), "password", "h0")
    await CredentialStore(db).put("sp", SP, "secret1", "h0")
    async with db.write() as conn:
        await ensure_repository(conn, registry_id, "team/app")


async def _delete_role(db: Database, registry_id: int) -> object:
    roles = RoleAssignmentStore(db)
    (assignment,) = await roles.list(registry_id, SP)
    return await roles.delete(assignment.id)


CHANGES: dict[str, Change] = {
    "credential put": lambda db, r: CredentialStore(db).put(
        "admin", str(r), "password", "h1", registry_id=r
    ),
    "credential remove": lambda db, r: CredentialStore(db).remove(
        "admin", str(r), "password", registry_id=r
    ),
    "sp secret put": lambda db, r: CredentialStore(db).put("sp", SP, "secret2", "h1"),
    "sp secret remove": lambda db, r: CredentialStore(db).remove("sp", SP),
    "token create": lambda db, r: TokenStore(db).create(r, "ci2", "pull"),
    "token disable": lambda db, r: TokenStore(db).update(r, "ci", enabled=False),
    "token rebind": lambda db, r: TokenStore(db).update(r, "ci", scope_map="spare"),
    "token delete": lambda db, r: TokenStore(db).delete(r, "ci"),
    "scope map update": lambda db, r: ScopeMapStore(db).update(r, "pull", actions=()),
    "scope map delete": lambda db, r: ScopeMapStore(db).delete(r, "spare"),
    "role create": lambda db, r: RoleAssignmentStore(db).create(r, "group", "g", "AcrPush", "*"),
    "role delete": _delete_role,
    "registry update": lambda db, r: RegistryStore(db).update("contoso", {"anonymous_pull": True}),
    "repository anonymous pull": lambda db, r: RegistryStore(db).set_repository_anonymous_pull(
        r, "team/app", True
    ),
    "principal delete": lambda db, r: ServicePrincipalStore(db).delete(SP),
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_every_access_change_bumps_the_auth_version(db: Database, change: str) -> None:
    registry = await RegistryStore(db).create("contoso")
    other = await RegistryStore(db).create("fabrikam")
    assert registry is not None and other is not None
    await _setup(db, registry.id)
    before, other_before = await _version(db), await _version(db, "fabrikam")
    assert await CHANGES[change](db, registry.id)
    assert await _version(db) == before + 1
    assert await _version(db, "fabrikam") == other_before


NO_CHANGES: dict[str, Change] = {
    "remove of nothing": lambda db, r: CredentialStore(db).remove(
        "admin", str(r), "nope", registry_id=r
    ),
    "token update of nothing": lambda db, r: TokenStore(db).update(r, "nope", enabled=False),
    "token delete of nothing": lambda db, r: TokenStore(db).delete(r, "nope"),
    "duplicate token": lambda db, r: TokenStore(db).create(r, "ci", "spare"),
    "scope map update of nothing": lambda db, r: ScopeMapStore(db).update(r, "nope", actions=()),
    "role delete of nothing": lambda db, r: RoleAssignmentStore(db).delete(10_000),
    "anonymous pull of nothing": lambda db, r: RegistryStore(db).set_repository_anonymous_pull(
        r, "nope", True
    ),
    "unassigned principal secret": lambda db, r: CredentialStore(db).put("sp", OTHER_SP, "s", "h"),
}


@pytest.mark.parametrize("change", list(NO_CHANGES))
async def test_no_op_changes_keep_the_auth_version(db: Database, change: str) -> None:
    registry = await RegistryStore(db).create("contoso")
    assert registry is not None
    await _setup(db, registry.id)
    before = await _version(db)
    result = await NO_CHANGES[change](db, registry.id)
    assert not result or change == "unassigned principal secret"
    assert await _version(db) == before


async def test_scope_maps_and_tokens(db: Database) -> None:
    registry = await RegistryStore(db).create("contoso")
    assert registry is not None
    maps, token_store = ScopeMapStore(db), TokenStore(db)
    created = await maps.create(registry.id, "pull", READ, "team reads")
    assert created is not None and created.actions == READ
    assert await maps.create(registry.id, "pull", ()) is None
    with pytest.raises(LookupError):
        await token_store.create(registry.id, "ci", "nope")
    assert await token_store.get(registry.id, "ci") is None
    token = await token_store.create(registry.id, "ci", "pull", enabled=False)
    assert token is not None and not token.enabled and token.scope_map == "pull"
    assert await token_store.create(registry.id, "ci", "pull") is None
    with pytest.raises(LookupError):
        await token_store.update(registry.id, "ci", scope_map="nope")
    with pytest.raises(ScopeMapInUse):
        await maps.delete(registry.id, "pull")
    assert await maps.get(registry.id, "pull") is not None
    updated = await maps.update(registry.id, "pull", description="changed")
    assert updated is not None and updated.actions == READ and updated.description == "changed"
    assert await token_store.delete(registry.id, "ci")
    assert await maps.delete(registry.id, "pull")
    assert not await maps.delete(registry.id, "pull")
    assert await maps.list(registry.id) == []


async def test_credentials_put_replaces_and_remove(db: Database) -> None:
    store = CredentialStore(db)
    expiry = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    await store.put("token", "7", "password2", "h2", expires_at=expiry)
    first = await store.put("token", "7", "password1", "h1")
    renewed = await store.put("token", "7", "password1", "h1b")
    assert renewed.id == first.id and renewed.hash == "h1b"
    assert renewed.created_at >= first.created_at
    found = await store.of("token", "7")
    assert [(c.name, c.hash, c.expires_at) for c in found] == [
        ("password1", "h1b", None),
        ("password2", "h2", expiry),
    ]
    assert await store.of("token", "8") == []
    assert await store.remove("token", "7", "password1") == 1
    assert await store.remove("token", "7", "password1") == 0
    assert await store.remove("token", "7") == 1
    assert await store.of("token", "7") == []


async def test_principal_delete_removes_secrets_and_assignments_everywhere(db: Database) -> None:
    principals, roles, credentials = (
        ServicePrincipalStore(db),
        RoleAssignmentStore(db),
        CredentialStore(db),
    )
    ids = []
    for name in ("contoso", "fabrikam"):
        record = await RegistryStore(db).create(name)
        assert record is not None
        ids.append(record.id)
    await principals.create(SP, "pipeline")
    await principals.create(OTHER_SP, "other")
    for registry_id in ids:
        await roles.create(registry_id, "sp", SP, "AcrPush", "team/*")
        again = await roles.create(registry_id, "sp", SP, "AcrPush", "team/*")
        await roles.create(registry_id, "sp", OTHER_SP, "AcrPull", "*")
        assert len(await roles.list(registry_id, SP)) == 1 and again.role == "AcrPush"
    found = await roles.of_principals(ids[0], [("sp", SP), ("group", "g")])
    assert [(a.principal, a.repositories) for a in found] == [(SP, "team/*")]
    await credentials.put("sp", SP, "secret1", "h")
    await credentials.put("sp", OTHER_SP, "secret1", "h")
    versions = [await _version(db, "contoso"), await _version(db, "fabrikam")]
    assert await principals.delete(SP)
    assert not await principals.delete(SP)
    assert await principals.get(SP) is None
    assert await credentials.of("sp", SP) == []
    assert await roles.list(principal=SP) == []
    assert [v + 1 for v in versions] == [
        await _version(db, "contoso"),
        await _version(db, "fabrikam"),
    ]
    assert [p.id for p in await principals.list()] == [OTHER_SP]
    assert len(await roles.list(principal=OTHER_SP)) == 2
    assert len(await credentials.of("sp", OTHER_SP)) == 1


def _key(kid: str, minutes: int) -> SigningKeyRecord:
    created = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    return SigningKeyRecord(kid, "ES256", f"pem-{kid}".encode(), created, None)


async def test_signing_keys(db: Database) -> None:
    store = SigningKeyStore(db)
    assert await store.list() == []
    assert await store.add(_key("k1", 0), only_if_none=True)
    assert not await store.add(_key("k0", 5), only_if_none=True)
    assert [k.kid for k in await store.list()] == ["k1"]
    assert await store.add(_key("k2", 1))
    assert await store.add(_key("k3", 2))
    # Adding a kid that exists changes nothing: in particular k3 keeps signing.
    assert not await store.add(_key("k3", 2))
    keys = await store.list()
    # The signing key first (the newest unretired), then retired keys, newest first.
    assert [k.kid for k in keys] == ["k3", "k2", "k1"]
    assert keys[0].retired_at is None and all(k.retired_at is not None for k in keys[1:])
    assert keys[0].private_pem == b"pem-k3" and keys[0].algorithm == "ES256"
    assert await store.remove_retired("k3") == 0
    assert await store.remove_retired("k1") == 1
    assert [k.kid for k in await store.list()] == ["k3", "k2"]
    assert await store.remove_retired() == 1
    assert [k.kid for k in await store.list()] == ["k3"]
