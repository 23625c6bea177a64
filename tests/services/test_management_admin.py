"""The deployment administrator's password, and the default registry made at start."""

from __future__ import annotations

import pytest

from portside.auth.errors import Throttled, Unauthorized
from portside.auth.secrets import SecretHasher
from portside.auth.throttle import LoginThrottle
from portside.metadata.credentials import CredentialStore
from portside.metadata.database import Database
from portside.metadata.principals import RoleAssignmentStore, ServicePrincipalStore
from portside.metadata.records import RegistryRecord
from portside.metadata.registries import RegistryStore
from portside.metadata.scope_maps import ScopeMapStore, TokenStore
from portside.metadata.usage_reads import UsageStore
from portside.services.access.hosts import LocalLoginServers
from portside.services.access.policy import AccessStores
from portside.services.lifecycle.usage import UsageService
from portside.services.management.admin import DeploymentAdmin, ManagementAuth
from portside.services.management.context import ManagementContext
from portside.services.management.errors import Invalid
from portside.services.management.identities import PrincipalManagement
from portside.services.management.registries import SYSTEM_SCOPE_MAPS, RegistryManagement

pytestmark = pytest.mark.anyio
HASHER = SecretHasher(time_cost=1, memory_cost=1024)


async def test_configured_password_is_used_and_nothing_is_stored(db: Database) -> None:
    store = CredentialStore(db)
    admin = DeploymentAdmin(store, HASHER)
    assert await admin.ensure("s3cret-from-config") is None
    assert await admin.verify("s3cret-from-config")
    assert not await admin.verify("s3cret-from-confiG")
    assert not await admin.verify("")
    assert await store.of("deployment", "admin") == []


async def test_generated_password_is_returned_once_and_stored_hashed(db: Database) -> None:
    store = CredentialStore(db)
    admin = DeploymentAdmin(store, HASHER)
    password = await admin.ensure(None)
    assert password is not None and len(password) == 43
    (stored,) = await store.of("deployment", "admin")
    assert stored.hash.startswith("$argon2id$")
    assert password not in stored.hash
    assert await admin.verify(password)
    # Another process (or a restart) finds the stored one: nothing new to print.
    other = DeploymentAdmin(store, HASHER)
    assert await other.ensure(None) is None
    assert await other.verify(password)
    assert not await other.verify("wrong")


async def test_reset_replaces_the_password(db: Database) -> None:
    admin = DeploymentAdmin(CredentialStore(db), HASHER)
    old = await admin.ensure(None)
    assert old is not None
    new = await admin.reset()
    assert new != old
    assert await admin.verify(new)
    assert not await admin.verify(old)


def _context(db: Database) -> ManagementContext:
    stores = AccessStores(
        registries=RegistryStore(db),
        credentials=CredentialStore(db),
        tokens=TokenStore(db),
        scope_maps=ScopeMapStore(db),
        principals=ServicePrincipalStore(db),
        roles=RoleAssignmentStore(db),
    )
    return ManagementContext(stores, HASHER, UsageService(UsageStore(db)))


def _registries(
    db: Database,
    domain: str = "example.com",
    port: int = 443,
    local: LocalLoginServers | None = None,
) -> RegistryManagement:
    return RegistryManagement(
        _context(db), domain=domain, port=port, default_registry="default", local=local
    )


async def test_ensure_registry_is_idempotent_and_restores_system_maps(db: Database) -> None:
    registries = _registries(db)
    first = await registries.ensure_registry("default")
    again = await registries.ensure_registry("default")
    assert first.id == again.id
    maps = await ScopeMapStore(db).list(first.id)
    assert {m.name for m in maps} == set(SYSTEM_SCOPE_MAPS)
    assert all(m.system for m in maps)
    await ScopeMapStore(db).delete(first.id, "_repositories_push")
    await registries.ensure_registry("default")
    assert {m.name for m in await ScopeMapStore(db).list(first.id)} == set(SYSTEM_SCOPE_MAPS)
    with pytest.raises(Invalid):
        await registries.ensure_registry("Not_Valid")


async def test_login_servers_leave_out_port_443(db: Database) -> None:
    registries = _registries(db)
    team1, default = RegistryRecord(2, "team1"), RegistryRecord(1, "default")
    assert registries.login_server(team1) == "team1.example.com"
    assert registries.login_server(default) == "example.com"
    assert registries.login_server(default, "registry.example.com") == "registry.example.com"
    other = _registries(db, "localhost", 5000)
    assert other.login_server(team1) == "team1.localhost:5000"


async def test_on_loopback_registries_answer_at_their_loopback_login_server(db: Database) -> None:
    local = LocalLoginServers("127.0.0.1", range(5001, 5004))
    registries = _registries(db, "localhost", 5000, local)
    contoso = await registries.create("contoso")
    fabrikam = await registries.create("fabrikam")
    assert (contoso.login_server, fabrikam.login_server) == ("127.0.0.1:5001", "127.0.0.1:5002")
    assert (await registries.show("contoso")).login_server == "127.0.0.1:5001"
    # The default registry stays at the address the caller used; a registry whose slot has no
    # port (more registries than ports) keeps its name under the domain.
    default = await registries.ensure_registry("default")
    assert registries.login_server(default, "127.0.0.1:5000") == "127.0.0.1:5000"
    assert registries.login_server(RegistryRecord(9, "late", login_slot=4)) == "late.localhost:5000"
    # A deleted registry's slot goes to the next one made, so the ports stay few.
    await registries.delete("contoso")
    assert (await registries.create("northwind")).login_server == "127.0.0.1:5001"
    assert (await registries.create("tailspin")).login_server == "127.0.0.1:5003"


def _spellings(principal_id: str) -> list[str]:
    """Ways of writing one UUID that Python's `uuid.UUID` reads as the same id."""
    bare = principal_id.replace("-", "")
    return [bare, bare.upper(), "{" + bare + "}", "urn:" + bare, "-".join([bare[:4], bare[4:]])]


async def test_sign_ins_of_a_principal_are_throttled_however_its_id_is_spelled(
    db: Database,
) -> None:
    context = _context(db)
    principals = PrincipalManagement(context)
    created = await principals.create("ci")
    principal_id, secret = created.record.id, created.secrets[0].value
    assert secret is not None
    spellings = _spellings(principal_id)
    auth = ManagementAuth(
        DeploymentAdmin(context.stores.credentials, HASHER),
        principals,
        LoginThrottle(max_failures=len(spellings)),
    )
    for spelling in spellings:
        with pytest.raises(Unauthorized):
            await auth.authenticate(spelling, "wrong", client="192.0.2.1")
    with pytest.raises(Throttled):
        await auth.authenticate(principal_id, secret, client="192.0.2.1")
    # Another address is not locked out, and a caller is known by the id's one spelling.
    caller = await auth.authenticate(spellings[0], secret, client="192.0.2.2")
    assert caller.id == principal_id
