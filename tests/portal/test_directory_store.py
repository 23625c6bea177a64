"""Pending directory sign-ins and directory sessions, on every metadata backend
(tests/conftest.py): a pending sign-in is taken once, never after it expires; a directory
session's issuer and groups go with its session row."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.portal_directory import PendingSignIn, PortalDirectoryStore
from portside.metadata.portal_sessions import PortalSessionRecord, PortalSessionStore
from portside.metadata.principals import RoleAssignmentStore
from portside.metadata.registries import RegistryStore

pytestmark = pytest.mark.anyio

ISSUER = "https://login.example/v2.0"


def _pending(key: str, *, minutes: int) -> PendingSignIn:
    return PendingSignIn(
        id=key,
        issuer=ISSUER,
        state="s" * 43,
        nonce="n" * 43,
        verifier="v" * 86,
        next="/portal/registries",
        expires_at=utcnow() + timedelta(minutes=minutes),
    )


async def test_a_pending_sign_in_is_taken_once(db: Database) -> None:
    store = PortalDirectoryStore(db)
    await store.start(_pending("a" * 64, minutes=10))
    await store.start(_pending("b" * 64, minutes=-1))
    taken = await store.take("a" * 64)
    assert taken is not None and taken.verifier == "v" * 86 and taken.issuer == ISSUER
    assert await store.take("a" * 64) is None
    assert await store.take("b" * 64) is None  # expired
    assert await store.take("z" * 64) is None


async def test_racing_callbacks_take_a_pending_sign_in_once(db: Database) -> None:
    store = PortalDirectoryStore(db)
    await store.start(_pending("c" * 64, minutes=10))
    results: list[PendingSignIn | None] = []

    async def take() -> None:
        results.append(await store.take("c" * 64))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(take)
    assert sum(found is not None for found in results) == 1


async def test_a_directory_session_carries_its_issuer_and_groups(db: Database) -> None:
    store, sessions = PortalDirectoryStore(db), PortalSessionStore(db)
    now = utcnow()
    record = PortalSessionRecord(
        id="d" * 64,
        kind="federated",
        subject="alice",
        registry_id=None,
        secret="",
        csrf="c" * 43,
        created_at=now,
        expires_at=now + timedelta(hours=1),
    )
    await store.open(record, ISSUER, ("readers", "devs"))
    found = await store.session("d" * 64)
    assert found is not None and found.issuer == ISSUER and found.groups == ("readers", "devs")
    assert (await sessions.get("d" * 64)) is not None
    await sessions.delete("d" * 64)
    assert await store.session("d" * 64) is None


async def test_roles_match_issuer_and_name_together(db: Database) -> None:
    registry, _ = await RegistryStore(db).ensure("team")
    roles, store = RoleAssignmentStore(db), PortalDirectoryStore(db)
    await roles.create(registry.id, "group", "readers", "AcrPull", "app/web", issuer=ISSUER)
    assert await store.has_roles(ISSUER, "alice", ("readers",))
    assert not await store.has_roles(ISSUER, "alice", ("writers",))
    assert not await store.has_roles("https://other.example", "alice", ("readers",))
    await roles.create(registry.id, "subject", "bob", "Reader", "*", issuer=ISSUER)
    assert await store.has_roles(ISSUER, "bob", ())
