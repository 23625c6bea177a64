"""Revocation and identity reuse: what ends a token, and that nothing new inherits an old one's.

Each test drives the access policy and the token service of a `Runtime`, as requests do: the
registry record is read again before each check, as the access step reads it per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import anyio
import jwt
import pytest

from portside.auth.credentials import Basic, Bearer
from portside.auth.errors import Unauthorized
from portside.auth.identity import NULL_GUID
from portside.auth.scopes import Scope
from portside.config import Settings
from portside.metadata.clock import utcnow
from portside.metadata.records import RegistryRecord
from portside.metadata.repositories import ensure_repository
from portside.runtime.root import Runtime
from portside.services.access.oauth import TokenRequest
from portside.services.management.errors import Invalid, NotFound
from tests.api.identities import HASHER, SP_PULL, World, make_settings, seed_database

pytestmark = pytest.mark.anyio

CLIENT = "192.0.2.7"
PULL_APP = Scope.repository("team/app", "pull")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A migrated SQLite database, credentials required."""
    return make_settings(tmp_path)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A runtime over the seeded database."""
    async with Runtime(settings, hasher=HASHER) as built:
        await seed_database(built.database)
        yield built


async def _registry(runtime: Runtime, name: str = "contoso") -> RegistryRecord:
    found = await runtime.stores.registries.get(name)
    assert found is not None
    return found


async def _token(
    runtime: Runtime,
    registry: str,
    credentials: Basic | None,
    *scopes: Scope,
    offline: bool = False,
) -> tuple[str, str | None]:
    """An access token (and a refresh token if `offline`) from the token endpoint's service."""
    host = f"{registry}.localhost"
    request = TokenRequest(
        service=host, scopes=tuple(str(scope) for scope in scopes), offline=offline
    )
    answer = await runtime.oauth.token(host, credentials, request, client=CLIENT)
    return answer.issued.token, answer.refresh_token


async def _authorize(runtime: Runtime, registry: str, token: str, *scopes: Scope) -> None:
    record = await _registry(runtime, registry)
    await runtime.policy.authorize(record, Bearer(token), scopes, client=CLIENT)


async def _new_registry_with_admin(runtime: Runtime, name: str, password: str) -> None:
    record = await runtime.stores.registries.create(name)
    assert record is not None
    await runtime.stores.registries.update(name, {"admin_enabled": True})
    await runtime.stores.credentials.put("admin", str(record.id), "password", HASHER.hash(password))


async def test_a_registry_created_again_refuses_the_old_ones_tokens(runtime: Runtime) -> None:
    await _new_registry_with_admin(runtime, "gone", "first-password")
    old_id = (await _registry(runtime, "gone")).id
    access, refresh = await _token(
        runtime, "gone", Basic("gone", "first-password"), PULL_APP, offline=True
    )
    assert refresh is not None
    await _authorize(runtime, "gone", access, PULL_APP)
    assert await runtime.stores.registries.delete("gone")
    await _new_registry_with_admin(runtime, "gone", "second-password")
    again = await _registry(runtime, "gone")
    # The same name, possibly the same row id and auth version: nothing of the old one counts.
    assert again.id == old_id or again.uid != ""
    with pytest.raises(Unauthorized):
        await _authorize(runtime, "gone", access, PULL_APP)
    with pytest.raises(Unauthorized):
        await runtime.policy.refresh_login(again, refresh)


async def test_registries_carry_distinct_random_uids(runtime: Runtime) -> None:
    uids = {record.uid for record in await runtime.stores.registries.list()}
    assert len(uids) == 2 and all(len(uid) == 32 for uid in uids)


async def test_deleting_a_public_repository_ends_anonymous_tokens_for_its_name(
    runtime: Runtime,
) -> None:
    contoso = await _registry(runtime)
    async with runtime.database.write() as conn:
        await ensure_repository(conn, contoso.id, "public/app")
    assert await runtime.stores.registries.set_repository_anonymous_pull(
        contoso.id, "public/app", True
    )
    pull = Scope.repository("public/app", "pull")
    access, _ = await _token(runtime, "contoso", None, pull)
    await _authorize(runtime, "contoso", access, pull)
    assert await runtime.stores.artifacts.delete_repository(contoso.id, "public/app") is not None
    # A private repository pushed later under the same name.
    async with runtime.database.write() as conn:
        await ensure_repository(conn, contoso.id, "public/app")
    with pytest.raises(Unauthorized):
        await _authorize(runtime, "contoso", access, pull)


async def test_resetting_the_admin_password_ends_its_refresh_and_access_tokens(
    runtime: Runtime,
) -> None:
    password = await runtime.admin.ensure(None)
    assert password is not None
    caller = await runtime.management.auth.authenticate("admin", password)
    login = await runtime.management.login("contoso", caller)
    contoso = await _registry(runtime)
    assert (await runtime.policy.refresh_login(contoso, login.refresh_token)).identity.kind == (
        "deployment"
    )
    access, _ = await _token(runtime, "contoso", Basic(NULL_GUID, login.refresh_token), PULL_APP)
    await _authorize(runtime, "contoso", access, PULL_APP)
    await runtime.admin.reset()
    with pytest.raises(Unauthorized):
        await runtime.policy.refresh_login(await _registry(runtime), login.refresh_token)
    with pytest.raises(Unauthorized):
        await _authorize(runtime, "contoso", access, PULL_APP)


async def _sp_secret_expiring(runtime: Runtime, expires_at: datetime) -> str:
    await runtime.stores.credentials.put(
        "sp", SP_PULL, "short", HASHER.hash("short-lived"), expires_at=expires_at
    )
    return "short-lived"


async def test_access_tokens_end_when_their_secret_expires(runtime: Runtime) -> None:
    expires = utcnow() + timedelta(seconds=90)
    secret = await _sp_secret_expiring(runtime, expires)
    access, _ = await _token(runtime, "contoso", Basic(SP_PULL, secret), PULL_APP)
    await _authorize(runtime, "contoso", access, PULL_APP)
    claims = jwt.decode(access, options={"verify_signature": False})
    # Capped at the secret's expiry (the default lifetime is longer), and carrying it.
    assert claims["exp"] <= int(expires.timestamp())
    assert claims["sexp"] == int(expires.timestamp())


async def test_an_expired_secrets_access_token_is_refused_at_once(runtime: Runtime) -> None:
    secret = await _sp_secret_expiring(runtime, utcnow() + timedelta(seconds=2))
    access, _ = await _token(runtime, "contoso", Basic(SP_PULL, secret), PULL_APP)
    await _authorize(runtime, "contoso", access, PULL_APP)
    await anyio.sleep(2.2)
    # Nothing moved the auth version: the token's own `sexp` ends it, checked without leeway.
    with pytest.raises(Unauthorized):
        await _authorize(runtime, "contoso", access, PULL_APP)


async def test_a_secret_already_expired_gets_no_token(runtime: Runtime) -> None:
    secret = await _sp_secret_expiring(runtime, utcnow() + timedelta(seconds=90))
    contoso = await _registry(runtime)
    login = await runtime.policy.login(contoso, SP_PULL, secret, client=CLIENT)
    await _sp_secret_expiring(runtime, utcnow() - timedelta(seconds=1))
    with pytest.raises(Unauthorized):
        await runtime.oauth.access_token(
            contoso, login.identity, (PULL_APP,), "contoso.localhost", secret=login.secret
        )


async def test_retiring_a_signing_key_ends_its_tokens_on_every_node(settings: Settings) -> None:
    async with (
        Runtime(settings, hasher=HASHER) as node_a,
        Runtime(settings, hasher=HASHER) as node_b,
    ):
        await seed_database(node_a.database)
        await node_a.keys.reload()
        await node_b.keys.reload()
        old_kid = (await node_a.stores.signing_keys.list())[0].kid
        access, _ = await _token(node_a, "contoso", Basic(*World.login("rw-token")), PULL_APP)
        await _authorize(node_b, "contoso", access, PULL_APP)
        with pytest.raises(Invalid):
            await node_a.management.retire_signing_key(old_kid)  # it signs: rotate first
        new_kid = await node_a.management.rotate_signing_key()
        with pytest.raises(NotFound):
            await node_a.management.retire_signing_key("no-such-kid")
        await node_a.management.retire_signing_key(old_kid)
        assert [key.kid for key in await node_a.stores.signing_keys.list()] == [new_kid]
        # Node B still holds the old key in memory: the token is refused all the same.
        for node in (node_a, node_b):
            with pytest.raises(Unauthorized):
                await _authorize(node, "contoso", access, PULL_APP)
        fresh, _ = await _token(node_b, "contoso", Basic(*World.login("rw-token")), PULL_APP)
        await _authorize(node_a, "contoso", fresh, PULL_APP)
