"""The collector's batches: many links per transaction, pages of listings, and what changes
between one batch and the next (a link a manifest came to reference keeps its blob)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.gc import CollectorStore
from portside.metadata.leases import LeaseStore
from portside.metadata.schema import blobs, repository_blobs
from portside.oci.digests import Digest
from portside.services.content.targets import Target
from portside.services.lifecycle.gc import GarbageCollector
from portside.storage.errors import ObjectNotFound
from portside.storage.layout import blob_key
from portside.storage.memory import MemoryDriver
from tests.services.gc_support import Node, invariant_violations

pytestmark = pytest.mark.anyio

GRACE = timedelta(minutes=60)


async def age(db: Database, by: timedelta) -> None:
    """Make every blob and link `by` older (set-based: these tests make many)."""
    then = utcnow() - by
    async with db.engine.begin() as conn:
        await conn.execute(update(blobs).values(created_at=then))
        await conn.execute(update(repository_blobs).values(created_at=then, touched_at=then))


class RecordingStore(CollectorStore):
    """A collector store that records each link transaction and may act between them."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.transactions: list[tuple[int, list[str]]] = []
        self.between: Callable[[int], Awaitable[None]] | None = None

    async def unlink_unused(
        self,
        registry_id: int,
        repository_id: int,
        name: str,
        digests: Sequence[str],
        cutoff: datetime,
    ) -> list[str]:
        """Record the batch, remove what is dead, then run `between` (the next batch waits)."""
        removed = await super().unlink_unused(registry_id, repository_id, name, digests, cutoff)
        self.transactions.append((repository_id, list(digests)))
        if self.between is not None:
            await self.between(len(self.transactions))
        return removed


def collector(node: Node, store: CollectorStore, **sizes: int) -> GarbageCollector:
    """A collector over `store` with the given batch sizes and no pause."""
    return GarbageCollector(store, LeaseStore(node.db), node.driver, grace=GRACE, pause=0, **sizes)


async def orphans(node: Node, target: Target, count: int, prefix: str) -> list[bytes]:
    """Upload `count` layers no manifest references."""
    layers = [f"{prefix}-{n}".encode() for n in range(count)]
    for data in layers:
        await node.upload(target, data)
    return layers


async def stored(node: Node, data: bytes) -> bool:
    """Whether the bytes are in storage."""
    try:
        await node.driver.stat(blob_key(Digest.of(data)))
    except ObjectNotFound:
        return False
    return True


async def test_links_go_in_batches_across_pages_and_repositories(db: Database) -> None:
    node = Node(db, MemoryDriver(), grace=GRACE)
    app, lib = await node.target("app"), await node.target("lib")
    await node.push_image(app, b"config", [b"base", b"layer"], "v1")
    loose = await orphans(node, app, 7, "app") + await orphans(node, lib, 5, "lib")
    await node.uploads.mount(lib, Digest.of(b"base"), "app")  # unreferenced in lib
    await age(db, 2 * GRACE)
    store = RecordingStore(db)
    # Pages of 4 listed links, at most 3 per transaction: batches end at page boundaries,
    # at repository boundaries and at the transaction size.
    report = await collector(node, store, batch_size=4, links_per_transaction=3).collect()
    assert report.links_removed == len(loose) + 1
    assert report.blobs_removed == len(loose), "base stays: app's manifest references it"
    # Dead: 7 links in app, then 6 in lib. Pages [app 4] [app 3, lib 1] [lib 4] [lib 1],
    # cut into transactions of at most 3 of one repository each.
    assert [len(digests) for _, digests in store.transactions] == [3, 1, 3, 1, 3, 1, 1]
    assert len({repository for repository, _ in store.transactions}) == 2
    assert [data for data in loose if await stored(node, data)] == []
    for data in (b"config", b"base", b"layer"):
        assert await stored(node, data)
    assert await invariant_violations(db, node.driver) == []
    again = await collector(node, RecordingStore(db)).collect()
    assert (again.links_removed, again.blobs_removed) == (0, 0)


async def test_a_link_referenced_between_batches_keeps_its_blob(db: Database) -> None:
    node = Node(db, MemoryDriver(), grace=GRACE)
    app = await node.target("app")
    loose = await orphans(node, app, 7, "layer")
    await age(db, 2 * GRACE)
    # The layer the collector lists last, so it is in the last batch of the collection.
    late = max(loose, key=lambda data: str(Digest.of(data)))
    store = RecordingStore(db)

    async def push_after_first(done: int) -> None:
        if done == 1:
            # A client pushes a manifest referencing a layer listed as dead whose batch has
            # not run yet (the link is old and untouched: only the re-check can keep it).
            await node.upload(app, b"config of a late manifest")
            await node.put_manifest(app, b"config of a late manifest", [late], "v1")

    store.between = push_after_first
    report = await collector(node, store, batch_size=100, links_per_transaction=2).collect()
    assert [len(digests) for _, digests in store.transactions] == [2, 2, 2, 1]
    assert store.transactions[-1][1] == [str(Digest.of(late))], "listed as dead, re-checked"
    assert report.links_removed == report.blobs_removed == len(loose) - 1
    assert await stored(node, late)
    assert [data for data in loose if await stored(node, data)] == [late]
    async with db.read() as conn:
        linked = set((await conn.scalars(select(repository_blobs.c.digest))).all())
    assert str(Digest.of(late)) in linked
    assert await invariant_violations(db, node.driver) == []


async def test_a_batch_removes_only_what_is_still_dead(db: Database) -> None:
    """One transaction given dead, referenced, fresh and unknown digests at once."""
    node = Node(db, MemoryDriver(), grace=GRACE)
    app = await node.target("app")
    dead = await orphans(node, app, 4, "dead")
    await node.push_image(app, b"config", [b"referenced"], "v1")
    await age(db, 2 * GRACE)
    fresh = await orphans(node, app, 2, "fresh")
    store = CollectorStore(db)
    unknown = "sha256:" + "f" * 64
    digests = [str(Digest.of(data)) for data in [*dead, b"referenced", b"config", *fresh]]
    removed = await store.unlink_unused(
        app.registry_id,
        await repository_id(db),
        "app",
        [*digests, unknown],
        utcnow() - GRACE,
    )
    assert removed == sorted(str(Digest.of(data)) for data in dead)
    assert await invariant_violations(db, node.driver) == []
    async with db.read() as conn:
        linked = set((await conn.scalars(select(repository_blobs.c.digest))).all())
    assert linked == set(digests) - set(removed)


async def repository_id(db: Database) -> int:
    """The id of the one repository these tests use."""
    async with db.read() as conn:
        found = await conn.scalar(select(repository_blobs.c.repository_id).limit(1))
    assert found is not None
    return int(found)
