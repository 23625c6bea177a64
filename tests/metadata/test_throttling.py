"""The shared counters of throttling: request units claimed per window, failed logins per key,
on SQLite and PostgreSQL."""

from __future__ import annotations

import anyio
import pytest

from portside.metadata.database import Database
from portside.metadata.registries import RegistryStore
from portside.metadata.throttling import LoginFailureStore, LoginPolicy, RequestCountStore

pytestmark = pytest.mark.anyio

WINDOW = 1_800_000_000  # a window start, in seconds since the epoch


async def _registry(db: Database, name: str = "acme") -> int:
    record = await RegistryStore(db).create(name)
    assert record is not None
    return record.id


async def test_claims_are_granted_until_the_limit(db: Database) -> None:
    store, registry = RequestCountStore(db), await _registry(db)
    assert await store.claim(registry, "read", WINDOW, 4, 10) == 4
    assert await store.claim(registry, "read", WINDOW, 4, 10) == 4
    assert await store.claim(registry, "read", WINDOW, 4, 10) == 2, "only what is left"
    assert await store.claim(registry, "read", WINDOW, 4, 10) == 0
    assert await store.claim(registry, "read", WINDOW, 1, 10) == 0
    # A full window is not counted on: the row stays at what was granted plus the last claim.
    assert await store.claimed(registry, "read", WINDOW) == 12
    # Writes, other windows and other registries count apart.
    assert await store.claim(registry, "write", WINDOW, 4, 10) == 4
    assert await store.claim(registry, "read", WINDOW + 60, 4, 10) == 4
    other = await _registry(db, "other")
    assert await store.claim(other, "read", WINDOW, 4, 10) == 4


async def test_a_claim_larger_than_the_limit_takes_the_limit(db: Database) -> None:
    store, registry = RequestCountStore(db), await _registry(db)
    assert await store.claim(registry, "write", WINDOW, 50, 3) == 3
    assert await store.claim(registry, "write", WINDOW, 50, 3) == 0
    with pytest.raises(ValueError):
        await store.claim(registry, "write", WINDOW, 0, 3)


async def test_concurrent_claims_never_grant_more_than_the_limit(db: Database) -> None:
    store, registry = RequestCountStore(db), await _registry(db)
    granted: list[int] = []

    async def claim() -> None:
        granted.append(await store.claim(registry, "read", WINDOW, 3, 50))

    async with anyio.create_task_group() as tasks:
        for _ in range(40):
            tasks.start_soon(claim)
    assert sum(granted) == 50
    assert granted.count(0) >= 40 - 17


async def test_pruning_drops_the_earlier_windows_of_that_registry_and_kind(db: Database) -> None:
    store, registry = RequestCountStore(db), await _registry(db)
    await store.claim(registry, "read", WINDOW, 1, 10)
    await store.claim(registry, "write", WINDOW, 1, 10)
    await store.claim(registry, "read", WINDOW + 60, 1, 10, prune=True)
    assert await store.claimed(registry, "read", WINDOW) == 0
    assert await store.claimed(registry, "write", WINDOW) == 1
    assert await store.claimed(registry, "read", WINDOW + 60) == 1


async def test_counts_go_with_their_registry(db: Database) -> None:
    store, registry = RequestCountStore(db), await _registry(db)
    await store.claim(registry, "read", WINDOW, 1, 10)
    assert await RegistryStore(db).delete("acme")
    assert await store.claimed(registry, "read", WINDOW) == 0


POLICY = LoginPolicy(max_failures=3, window_ms=60_000, lockout_ms=30_000)
T0 = 1_800_000_000_000


async def test_failures_lock_a_key_out_for_every_store(db: Database) -> None:
    node_a, node_b = LoginFailureStore(db, POLICY), LoginFailureStore(db, POLICY)
    for node in (node_a, node_b, node_a):
        assert await node.reserve("k", T0) is None
    assert not await node_a.failed("k", T0)
    assert not await node_b.failed("k", T0 + 1)
    assert await node_a.failed("k", T0 + 2), "the third failure locks the key"
    assert await node_b.reserve("k", T0 + 10) == 30_000 - 8
    assert await node_a.locked_for("k", T0 + 10) == 30_000 - 8
    assert await node_b.reserve("other", T0 + 10) is None, "other keys are untouched"
    # After the lockout, the key starts again with all its places.
    assert await node_b.locked_for("k", T0 + 30_002) is None
    assert await node_b.reserve("k", T0 + 30_002) is None


async def test_places_in_flight_are_shared(db: Database) -> None:
    node_a, node_b = LoginFailureStore(db, POLICY), LoginFailureStore(db, POLICY)
    assert await node_a.reserve("k", T0) is None
    assert await node_b.reserve("k", T0) is None
    assert await node_a.reserve("k", T0) is None
    assert await node_b.reserve("k", T0) == 0, "every place is taken by an attempt in flight"
    await node_a.succeeded("k")
    assert await node_b.reserve("k", T0) is None, "a success frees every place"


async def test_failures_expire_with_their_window(db: Database) -> None:
    store = LoginFailureStore(db, POLICY)
    for at in (T0, T0 + 1):
        assert await store.reserve("k", at) is None
        assert not await store.failed("k", at)
    # A minute later the two failures are forgotten: three more are needed for a lockout.
    later = T0 + 60_001
    for at in (later, later + 1):
        assert await store.reserve("k", at) is None
        assert not await store.failed("k", at)
    assert await store.reserve("k", later + 2) is None


async def test_expired_rows_are_swept(db: Database) -> None:
    store = LoginFailureStore(db, POLICY)
    for index in range(5):
        assert await store.reserve(f"k{index}", T0) is None
        await store.failed(f"k{index}", T0)
    assert await store.count() == 5
    assert await store.reserve("late", T0 + 120_000) is None
    await store.failed("late", T0 + 120_000)
    assert await store.count() == 1
