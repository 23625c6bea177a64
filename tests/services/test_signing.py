"""Signing keys: created once per deployment, shared by every node, rotated without restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import jwt
import pytest

from portside.auth.errors import Denied, Unauthorized
from portside.auth.identity import ANONYMOUS, Identity
from portside.auth.tokens import InvalidToken, SigningKey, TokenService
from portside.metadata.database import Database
from portside.metadata.records import RegistryRecord, SigningKeyRecord
from portside.metadata.signing_keys import SigningKeyStore
from portside.services.access.signing import KeyRing

pytestmark = pytest.mark.anyio


async def _token(ring: KeyRing) -> str:
    service = await ring.service()
    return service.issue(
        subject="s",
        audience="contoso.localhost",
        lifetime=timedelta(minutes=5),
        claims={"grant_type": "access_token"},
    )


async def test_nodes_share_the_first_key(db: Database) -> None:
    first, second = (
        KeyRing(SigningKeyStore(db), issuer="portside"),
        KeyRing(SigningKeyStore(db), issuer="portside"),
    )
    await first.reload()
    await second.reload()
    assert len(await SigningKeyStore(db).list()) == 1
    token = await _token(first)
    assert (await second.verify(token, kind="access_token"))["sub"] == "s"


async def test_rotation_reaches_other_nodes_and_old_tokens_keep_verifying(db: Database) -> None:
    node_a = KeyRing(SigningKeyStore(db), issuer="portside", reload_seconds=3600)
    node_b = KeyRing(SigningKeyStore(db), issuer="portside", reload_seconds=3600)
    old_token = await _token(node_a)
    await node_b.reload()
    new_kid = await node_a.rotate("RS256")
    new_token = await _token(node_a)
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    # node B has not reloaded yet: meeting the unknown kid makes it reload once, and verify.
    assert (await node_b.verify(new_token, kind="access_token"))["sub"] == "s"
    assert (await node_b.verify(old_token, kind="access_token"))["sub"] == "s"
    keys = await SigningKeyStore(db).list()
    assert keys[0].kid == new_kid and keys[0].algorithm == "RS256"
    assert keys[1].retired_at is not None
    # Removing retired keys ends the old tokens everywhere once nodes reload.
    assert await SigningKeyStore(db).remove_retired() == 1
    await node_b.reload()
    with pytest.raises(InvalidToken):
        await node_b.verify(old_token, kind="access_token")
    assert (await node_b.verify(new_token, kind="access_token"))["sub"] == "s"


_REGISTRY = RegistryRecord(id=7, name="contoso")


async def test_refresh_tokens_name_the_identity_the_registry_and_the_secret(db: Database) -> None:
    ring = KeyRing(SigningKeyStore(db), issuer="portside")
    identity = Identity("sp", "app", ("devs",))
    token = await ring.refresh_token(
        _REGISTRY, identity, audience="contoso.localhost", lifetime=timedelta(hours=1), secret="f"
    )
    claims = await ring.verify(token, kind="refresh_token")
    assert (claims["sub"], claims["aud"], claims["reg"]) == ("app", "contoso.localhost", 7)
    assert (claims["kind"], claims["groups"], claims["sec"]) == ("sp", ["devs"], "f")
    unbound = await ring.refresh_token(
        _REGISTRY, identity, audience="contoso.localhost", lifetime=timedelta(hours=1)
    )
    assert "sec" not in await ring.verify(unbound, kind="refresh_token")


async def test_no_refresh_token_for_anonymous_or_unsayable_names(db: Database) -> None:
    ring = KeyRing(SigningKeyStore(db), issuer="portside")
    hour = timedelta(hours=1)
    with pytest.raises(Unauthorized):
        await ring.refresh_token(_REGISTRY, ANONYMOUS, audience="contoso.localhost", lifetime=hour)
    with pytest.raises(Denied):
        await ring.refresh_token(
            _REGISTRY,
            Identity("federated", "a?b", issuer="https://idp.example"),
            audience="contoso.localhost",
            lifetime=hour,
            session_end=datetime.now(UTC) + hour,
        )


async def test_federated_refresh_tokens_end_with_their_session(db: Database) -> None:
    ring = KeyRing(SigningKeyStore(db), issuer="portside")
    identity = Identity("federated", "alice", issuer="https://idp.example")
    hour = timedelta(hours=1)
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    token = await ring.refresh_token(
        _REGISTRY, identity, audience="contoso.localhost", lifetime=hour, session_end=ends
    )
    claims = await ring.verify(token, kind="refresh_token")
    assert claims["sxp"] == int(ends.timestamp()) and claims["exp"] <= ends.timestamp()
    with pytest.raises(ValueError, match="session"):
        await ring.refresh_token(_REGISTRY, identity, audience="contoso.localhost", lifetime=hour)
    with pytest.raises(Unauthorized, match="session has ended"):
        await ring.refresh_token(
            _REGISTRY,
            identity,
            audience="contoso.localhost",
            lifetime=hour,
            session_end=datetime.now(UTC),
        )


class _CountingStore(SigningKeyStore):
    """Counts how often the keys are read."""

    reads = 0

    async def list(self) -> list[SigningKeyRecord]:
        """The keys, counted."""
        self.reads += 1
        return await super().list()


class _Clock:
    """A monotonic clock the test moves by hand."""

    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _unknown_kid_token() -> str:
    """A well-signed token of a key no node of this deployment has."""
    stranger = TokenService(issuer="portside", keys=[SigningKey.generate("ES256", now=_NOW)])
    return stranger.issue(
        subject="s", audience="a", lifetime=timedelta(minutes=5), claims={"grant_type": "x"}
    )


_NOW = datetime.now(UTC)


async def test_unknown_kids_reload_the_keys_at_most_once_per_interval(db: Database) -> None:
    store, clock = _CountingStore(db), _Clock()
    node_a = KeyRing(SigningKeyStore(db), issuer="portside", reload_seconds=3600)
    node_b = KeyRing(store, issuer="portside", reload_seconds=3600, monotonic=clock)
    await node_b.reload()
    tokens = [await _unknown_kid_token() for _ in range(3)]
    failures: list[str] = []

    async def verify(token: str) -> None:
        try:
            await node_b.verify(token, kind="access_token")
        except InvalidToken as error:
            failures.append(error.message)

    store.reads = 0
    async with anyio.create_task_group() as tasks:
        for i in range(60):
            tasks.start_soon(verify, tokens[i % 3])
    for token in tokens * 10:
        await verify(token)
    assert failures == ["unknown signing key"] * 90
    assert store.reads == 1  # concurrent misses shared one reload, later ones waited
    # A key rotated on another node meanwhile is picked up once the interval has passed.
    await node_a.rotate()
    rotated = await _token(node_a)
    clock.now += 4.9
    await verify(rotated)
    assert failures[-1] == "unknown signing key" and store.reads == 1
    clock.now += 0.1
    assert (await node_b.verify(rotated, kind="access_token"))["sub"] == "s"
    assert store.reads == 2
