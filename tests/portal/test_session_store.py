"""The portal's session rows and its tag count, on every metadata backend (tests/conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.portal_sessions import PortalSessionRecord, PortalSessionStore, tag_count
from portside.metadata.registries import RegistryStore

pytestmark = pytest.mark.anyio


def _session(key: str, *, minutes: int, registry_id: int | None = None) -> PortalSessionRecord:
    now = utcnow()
    return PortalSessionRecord(
        id=key,
        kind="admin" if registry_id else "deployment",
        subject="team" if registry_id else "admin",
        registry_id=registry_id,
        secret="f" * 32,
        csrf="c" * 43,
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )


async def test_sessions_are_found_until_they_end_or_are_deleted(db: Database) -> None:
    store = PortalSessionStore(db)
    await store.create(_session("a" * 64, minutes=5))
    await store.create(_session("b" * 64, minutes=-1))
    found = await store.get("a" * 64)
    assert found is not None and found.kind == "deployment" and found.csrf == "c" * 43
    assert await store.get("b" * 64) is None  # ended: refused even before it is swept
    assert await store.get("z" * 64) is None
    assert await store.delete_expired() == 1
    await store.delete("a" * 64)
    assert await store.get("a" * 64) is None
    await store.delete("a" * 64)  # already gone: nothing happens


async def test_deleting_a_registry_ends_its_admin_users_sessions(db: Database) -> None:
    registries, store = RegistryStore(db), PortalSessionStore(db)
    registry, _ = await registries.ensure("team")
    await store.create(_session("d" * 64, minutes=5, registry_id=registry.id))
    assert await tag_count(db, registry.id) == 0
    assert await registries.delete("team")
    assert await store.get("d" * 64) is None
