"""Leases: one holder at a time across processes, taken over after expiry."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from portside.metadata.database import Database
from portside.metadata.leases import LeaseStore

pytestmark = pytest.mark.anyio


async def test_one_holder_at_a_time(db: Database) -> None:
    store = LeaseStore(db)
    assert await store.acquire("gc", "node-a", timedelta(minutes=5))
    assert not await store.acquire("gc", "node-b", timedelta(minutes=5))
    assert await store.acquire("gc", "node-a", timedelta(minutes=5)), "the holder renews"
    assert await store.holder("gc") == "node-a"
    assert not await store.release("gc", "node-b")
    assert await store.release("gc", "node-a")
    assert await store.holder("gc") is None
    assert await store.acquire("gc", "node-b", timedelta(minutes=5))


async def test_an_expired_lease_is_taken_over(db: Database) -> None:
    store = LeaseStore(db)
    assert await store.acquire("gc", "crashed", timedelta(milliseconds=1))
    await anyio.sleep(0.01)
    assert await store.holder("gc") is None
    assert await store.acquire("gc", "node-b", timedelta(minutes=5))
    assert await store.holder("gc") == "node-b"


async def test_racing_acquirers_get_one_winner(db: Database) -> None:
    store = LeaseStore(db)
    winners: list[str] = []

    async def take(holder: str) -> None:
        if await store.acquire("retention", holder, timedelta(minutes=5)):
            winners.append(holder)

    async with anyio.create_task_group() as group:
        for index in range(8):
            group.start_soon(take, f"node-{index}")
    assert len(winners) == 1
