"""ReplicationStore on both backends: replications, the backlog, presence and status reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.replication import ReplicationStore
from portside.metadata.schema import blob_locations, blobs, repository_blobs
from tests.metadata.lifecycle_data import CONFIG, LAYER, SIZES, image, index, registry

pytestmark = pytest.mark.anyio


async def test_replications_are_created_once_updated_and_deleted(db: Database) -> None:
    reg = await registry(db)
    store = ReplicationStore(db)
    created = await store.create(reg.id, "eastus", True)
    assert created is not None and created.region_endpoint_enabled
    assert await store.create(reg.id, "eastus", False) is None
    updated = await store.update(reg.id, "eastus", False)
    assert updated is not None and not updated.region_endpoint_enabled
    assert await store.update(reg.id, "westus", False) is None
    assert [r.location for r in await store.list(reg.id)] == ["eastus"]
    assert await store.delete(reg.id, "eastus")
    assert not await store.delete(reg.id, "eastus")
    assert await store.get(reg.id, "eastus") is None


async def test_the_backlog_holds_referenced_blobs_until_present(db: Database) -> None:
    reg = await registry(db)
    store = ReplicationStore(db)
    await reg.push(image(1), "v1")
    assert await store.backlog("eastus", 10) == []  # not replicated there
    await store.create(reg.id, "eastus", True)
    pending = await store.backlog("eastus", 10)
    assert sorted(b.digest for b in pending) == sorted([CONFIG, LAYER])
    assert {b.digest: b.size for b in pending} == SIZES
    assert (await store.summary(reg.id, "eastus")).bytes == sum(SIZES.values())

    await store.confirm(CONFIG, "eastus", SIZES[CONFIG])
    later = utcnow() + timedelta(minutes=5)
    assert await store.failed(LAYER, "eastus", "storage down", later) == 1
    assert await store.failed(LAYER, "eastus", "storage down", later) == 2
    assert await store.attempts(LAYER, "eastus") == 2
    assert await store.backlog("eastus", 10) == []  # the failed one waits for its retry
    summary = await store.summary(reg.id, "eastus")
    assert (summary.blobs, summary.bytes, summary.failing) == (1, SIZES[LAYER], 1)
    assert summary.last_error == "storage down"

    await store.failed(LAYER, "eastus", "storage down", utcnow() - timedelta(seconds=1))
    assert [b.digest for b in await store.backlog("eastus", 10)] == [LAYER]
    await store.confirm(LAYER, "eastus", SIZES[LAYER])
    assert await store.attempts(LAYER, "eastus") == 0
    assert (await store.summary(reg.id, "eastus")).blobs == 0


async def test_image_blobs_follow_tags_digests_and_index_children(db: Database) -> None:
    reg = await registry(db)
    store = ReplicationStore(db)
    child = image(2)
    await reg.push(child)
    parent = index(1, [child])
    await reg.push(parent, "multi")
    assert sorted(await store.image_blobs(reg.id, "app", "multi") or []) == sorted([CONFIG, LAYER])
    assert await store.image_blobs(reg.id, "app", child.digest) == sorted([CONFIG, LAYER])
    assert await store.image_blobs(reg.id, "app", "nope") is None
    assert await store.image_blobs(reg.id, "other", "multi") is None
    rows = await store.presence([CONFIG, LAYER], ["eastus"])
    assert [(loc, p.state) for loc, p in rows] == [("eastus", None), ("eastus", None)]


async def test_presence_goes_with_the_blob_row(db: Database) -> None:
    reg = await registry(db)
    store = ReplicationStore(db)
    await store.confirm(CONFIG, "eastus", SIZES[CONFIG])
    async with db.write() as conn:
        await conn.execute(delete(repository_blobs).where(repository_blobs.c.digest == CONFIG))
        await conn.execute(delete(blobs).where(blobs.c.digest == CONFIG))
    assert await _rows(db) == 0
    # A confirmation racing the collector's deletion writes nothing (no orphan row).
    await store.confirm(CONFIG, "eastus", SIZES[CONFIG])
    await store.confirm("sha256:" + "e" * 64, "eastus", 1)
    assert await _rows(db) == 0
    await store.confirm(LAYER, "eastus", SIZES[LAYER])
    assert await _rows(db) == 1 and reg.id


async def _rows(db: Database) -> int:
    async with db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(blob_locations)) or 0)
