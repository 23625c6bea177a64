"""The garbage collector through the services: what goes, what stays, dry runs, the lease."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from sqlalchemy import insert, select, update

from portside.metadata.blobs import BlobLink, BlobStore
from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.gc import CollectorStore
from portside.metadata.leases import LeaseStore
from portside.metadata.schema import (
    blobs,
    deleted_manifest_blobs,
    deleted_manifests,
    leases,
    repository_blobs,
)
from portside.oci.digests import Digest
from portside.services.content.blobs import BlobService
from portside.services.content.manifests import Reference
from portside.services.errors import BlobUnknown
from portside.services.lifecycle.gc import (
    LEASE,
    CollectorBusy,
    GarbageCollector,
    GcReport,
    collect_periodically,
)
from portside.storage.errors import ObjectNotFound
from portside.storage.filesystem import FilesystemDriver
from portside.storage.layout import blob_key
from portside.storage.memory import MemoryDriver
from tests.services.gc_support import Node, invariant_violations

pytestmark = pytest.mark.anyio

GRACE = timedelta(minutes=60)


async def age(db: Database, by: timedelta) -> None:
    """Make every blob and link `by` older."""
    async with db.engine.begin() as conn:
        for digest, created in (
            await conn.execute(select(blobs.c.digest, blobs.c.created_at))
        ).all():
            await conn.execute(
                update(blobs).where(blobs.c.digest == digest).values(created_at=created - by)
            )
        for link in (await conn.execute(select(repository_blobs))).all():
            await conn.execute(
                update(repository_blobs)
                .where(
                    repository_blobs.c.repository_id == link.repository_id,
                    repository_blobs.c.digest == link.digest,
                )
                .values(created_at=link.created_at - by, touched_at=link.touched_at - by)
            )


async def stored(node: Node, data: bytes) -> bool:
    """Whether the bytes are in storage."""
    try:
        await node.driver.stat(blob_key(Digest.of(data)))
    except ObjectNotFound:
        return False
    return True


async def test_deleted_image_is_collected_and_the_rest_kept(db: Database, tmp_path: Path) -> None:
    node = Node(db, FilesystemDriver(tmp_path / "store"), grace=GRACE)
    app = await node.target("app")
    kept = await node.push_image(app, b"config-1", [b"base", b"layer-1"], "v1")
    gone = await node.push_image(app, b"config-2", [b"base", b"layer-2"], "v2")
    await age(db, 2 * GRACE)
    await node.manifests.delete(app, Reference(digest=gone))
    report = await node.collector.collect()
    assert (report.links_removed, report.blobs_removed) == (2, 2)
    assert report.bytes_freed == len(b"config-2") + len(b"layer-2")
    assert not report.dry_run
    for data in (b"config-2", b"layer-2"):
        assert not await stored(node, data)
    for data in (b"config-1", b"base", b"layer-1"):
        assert await stored(node, data)
    assert await node.manifests.get(app, Reference(digest=kept))
    assert await invariant_violations(db, node.driver) == []
    again = await node.collector.collect()
    assert (again.links_removed, again.blobs_removed, again.bytes_freed) == (0, 0, 0)


async def test_nothing_younger_than_the_grace_period_goes(db: Database) -> None:
    node = Node(db, MemoryDriver(), grace=GRACE)
    app = await node.target("app")
    digest = await node.push_image(app, b"config", [b"layer"], None)
    await node.manifests.delete(app, Reference(digest=digest))
    await node.upload(app, b"orphan")  # uploaded, no manifest yet
    report = await node.collector.collect()
    assert (report.links_removed, report.blobs_removed) == (0, 0)
    assert await stored(node, b"layer") and await stored(node, b"orphan")


async def test_dry_run_changes_nothing_and_predicts_the_real_run(db: Database) -> None:
    node = Node(db, MemoryDriver(), grace=GRACE)
    app, other = await node.target("app"), await node.target("other")
    await node.push_image(app, b"config-1", [b"base", b"a"], "v1")
    digest = await node.push_image(app, b"config-2", [b"base", b"b"], "v2")
    await node.uploads.mount(other, Digest.of(b"b"), "app")
    await node.upload(other, b"lonely")
    await age(db, 2 * GRACE)
    await node.manifests.delete(app, Reference(digest=digest))

    async def snapshot() -> tuple[object, ...]:
        async with db.read() as conn:
            return (
                sorted(
                    (
                        await conn.execute(
                            select(repository_blobs.c.repository_id, repository_blobs.c.digest)
                        )
                    ).all()
                ),
                sorted((await conn.execute(select(blobs.c.digest, blobs.c.doomed_at))).all()),
            )

    before = await snapshot()
    dry = await node.collector.collect(dry_run=True)
    assert dry.dry_run
    assert await snapshot() == before
    assert await stored(node, b"lonely")
    real = await node.collector.collect()
    assert (dry.links_removed, dry.blobs_removed, dry.bytes_freed) == (
        real.links_removed,
        real.blobs_removed,
        real.bytes_freed,
    )
    # config-2, b (app), b (other), lonely; blobs config-2, b, lonely.
    assert (real.links_removed, real.blobs_removed) == (4, 3)
    assert real.bytes_freed == len(b"config-2") + len(b"b") + len(b"lonely")
    assert await invariant_violations(db, node.driver) == []


async def test_recycled_manifests_keep_their_blobs(db: Database) -> None:
    node = Node(db, MemoryDriver(), grace=GRACE)
    app = await node.target("app")
    digest = await node.push_image(app, b"config", [b"layer"], "v1")
    await age(db, 2 * GRACE)
    await node.manifests.delete(app, Reference(digest=digest))
    now = utcnow()
    async with db.engine.begin() as conn:  # what a soft delete leaves in the recycle bin
        recycled = await conn.scalar(
            insert(deleted_manifests)
            .values(
                registry_id=app.registry_id,
                repository="app",
                digest=str(digest),
                media_type="application/vnd.oci.image.manifest.v1+json",
                size=1,
                body=b"{}",
                created_at=now,
                deleted_at=now,
                expires_at=now + timedelta(days=7),
            )
            .returning(deleted_manifests.c.id)
        )
        for data in (b"config", b"layer"):
            await conn.execute(
                insert(deleted_manifest_blobs).values(
                    deleted_manifest_id=recycled, digest=str(Digest.of(data))
                )
            )
    report = await node.collector.collect()
    assert (report.links_removed, report.blobs_removed) == (0, 0)
    assert await node.blobs.stat(app, Digest.of(b"layer"))
    # Once the recycle bin lets go, the collector takes them.
    async with db.engine.begin() as conn:
        await conn.execute(deleted_manifests.delete())
    await age(db, 2 * GRACE)
    report = await node.collector.collect()
    assert (report.links_removed, report.blobs_removed) == (2, 2)
    assert not await stored(node, b"layer")


async def test_a_head_touches_a_stale_link_so_it_survives(db: Database) -> None:
    node = Node(db, MemoryDriver(), grace=GRACE)
    app = await node.target("app")
    await node.upload(app, b"layer")
    await node.upload(app, b"unused")
    await age(db, 2 * GRACE)
    # A client asks whether the layer exists, then (later) pushes the manifest using it.
    info = await node.blobs.stat(app, Digest.of(b"layer"))
    assert info.size == len(b"layer")
    report = await node.collector.collect()
    assert (report.links_removed, report.blobs_removed) == (1, 1)
    await node.put_manifest(app, b"layer", [], "v1")
    assert await invariant_violations(db, node.driver) == []
    with pytest.raises(BlobUnknown):
        await node.blobs.stat(app, Digest.of(b"unused"))


async def test_a_fresh_link_is_not_written_on_every_pull(db: Database) -> None:
    node = Node(db, MemoryDriver(), grace=GRACE)
    app = await node.target("app")
    await node.upload(app, b"layer")
    first = await node.blob_store.link(app.registry_id, "app", str(Digest.of(b"layer")))
    await node.blobs.stat(app, Digest.of(b"layer"))
    second = await node.blob_store.link(app.registry_id, "app", str(Digest.of(b"layer")))
    assert first == second, "a link touched within half the grace period is not touched again"
    await age(db, GRACE)  # now last touched a whole grace period ago
    await node.blobs.stat(app, Digest.of(b"layer"))
    third = await node.blob_store.link(app.registry_id, "app", str(Digest.of(b"layer")))
    assert third is not None and third.touched_at is not None
    assert third.touched_at > utcnow() - timedelta(minutes=1), "a stale link is touched"


class Snapshot(BlobStore):
    """Reads that answer from before the collector removed the link (a read racing it)."""

    def __init__(self, db: Database, link: BlobLink) -> None:
        super().__init__(db)
        self._link = link

    async def link(self, registry_id: int, repository: str, digest: str) -> BlobLink | None:
        return self._link


async def test_a_head_racing_the_removal_of_its_link_says_unknown(db: Database) -> None:
    """The touch is the answer: a stale link that the collector removed after the read saw
    it is unknown; a fresh one is answered without a write."""
    node = Node(db, MemoryDriver(), grace=GRACE)
    app = await node.target("app")
    digest = Digest.of(b"layer")
    await node.upload(app, b"layer")
    fresh = await node.blob_store.link(app.registry_id, "app", str(digest))
    await age(db, 2 * GRACE)
    stale = await node.blob_store.link(app.registry_id, "app", str(digest))
    assert fresh is not None and stale is not None
    report = await node.collector.collect()
    assert (report.links_removed, report.blobs_removed) == (1, 1)
    with pytest.raises(BlobUnknown):
        await BlobService(Snapshot(db, stale), node.driver, touch_after=GRACE / 2).stat(app, digest)
    # A fresh link is not re-checked: the grace period still covers it.
    info = await BlobService(Snapshot(db, fresh), node.driver, touch_after=GRACE / 2).stat(
        app, digest
    )
    assert info.size == len(b"layer")


async def test_a_doomed_blob_pushed_again_keeps_its_bytes(db: Database) -> None:
    node = Node(db, MemoryDriver(), grace=GRACE)
    app = await node.target("app")
    await node.upload(app, b"layer")
    await BlobStore(db).unlink(app.registry_id, "app", str(Digest.of(b"layer")))
    await age(db, 2 * GRACE)
    store = CollectorStore(db)
    assert await store.doom(utcnow() - GRACE) == 1
    await node.upload(await node.target("again"), b"layer")  # between phase A and phase B
    report = await node.collector.collect()
    assert report.blobs_removed == 0
    assert await stored(node, b"layer")
    assert await node.blobs.stat(await node.target("again"), Digest.of(b"layer"))


async def test_bytes_gone_under_a_doomed_row_are_refilled_by_an_upload(db: Database) -> None:
    """A collector that crashed between deleting bytes and their row leaves a doomed row
    without bytes: an upload of the digest commits its own bytes rather than dropping them."""
    node = Node(db, MemoryDriver(), grace=GRACE)
    app = await node.target("app")
    await node.upload(app, b"layer")
    await BlobStore(db).unlink(app.registry_id, "app", str(Digest.of(b"layer")))
    await age(db, 2 * GRACE)
    assert await CollectorStore(db).doom(utcnow() - GRACE) == 1
    await node.driver.delete(blob_key(Digest.of(b"layer")))
    await node.upload(app, b"layer")
    assert await stored(node, b"layer")


class PausingStore(CollectorStore):
    """Pauses before listing doomed blobs (between transactions: on SQLite a pause inside
    one would hold the database's write lock) until released."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.paused = anyio.Event()
        self.release = anyio.Event()

    async def doomed(self, after: str | None, limit: int) -> list[str]:
        self.paused.set()
        await self.release.wait()
        return await super().doomed(after, limit)


async def test_one_collector_at_a_time(db: Database) -> None:
    node = Node(db, MemoryDriver())
    store = PausingStore(db)
    first = GarbageCollector(store, LeaseStore(db), node.driver, grace=timedelta(0))
    app = await node.target("app")
    await node.upload(app, b"layer")
    await BlobStore(db).unlink(app.registry_id, "app", str(Digest.of(b"layer")))
    reports: list[GcReport] = []
    async with anyio.create_task_group() as tasks:

        async def run_first() -> None:
            reports.append(await first.collect())

        tasks.start_soon(run_first)
        await store.paused.wait()
        assert await LeaseStore(db).holder(LEASE) == first.holder
        with pytest.raises(CollectorBusy):
            await node.collector.collect()
        dry = await node.collector.collect(dry_run=True)  # a dry run needs no lease
        assert dry.blobs_removed == 1
        store.release.set()
    assert reports[0].blobs_removed == 1
    assert await LeaseStore(db).holder(LEASE) is None, "released when done"
    report = await node.collector.collect()
    assert report.blobs_removed == 0


async def test_a_collector_that_loses_its_lease_stops(db: Database) -> None:
    node = Node(db, MemoryDriver())
    store = PausingStore(db)
    collector = GarbageCollector(
        store, LeaseStore(db), node.driver, grace=timedelta(0), lease_ttl=timedelta(milliseconds=90)
    )
    app = await node.target("app")
    for data in (b"one", b"two"):
        await node.upload(app, data)
        await BlobStore(db).unlink(app.registry_id, "app", str(Digest.of(data)))
    async with anyio.create_task_group() as tasks:

        async def run() -> None:
            with pytest.raises(CollectorBusy):
                await collector.collect()

        tasks.start_soon(run)
        await store.paused.wait()
        # Another node takes the lease over (as if this one had stalled past its expiry).
        async with db.engine.begin() as conn:
            await conn.execute(
                update(leases).values(holder="thief", expires_at=utcnow() + timedelta(hours=1))
            )
        await anyio.sleep(0.2)  # the collector's next renewal finds out
        store.release.set()
    assert await LeaseStore(db).holder(LEASE) == "thief"
    assert await stored(node, b"one") and await stored(node, b"two"), "it stopped at once"


async def test_collect_periodically_survives_failures(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    node = Node(db, MemoryDriver())
    app = await node.target("app")
    await node.upload(app, b"layer")
    await BlobStore(db).unlink(app.registry_id, "app", str(Digest.of(b"layer")))
    await LeaseStore(db).acquire(LEASE, "elsewhere", timedelta(milliseconds=150))
    caplog.set_level(logging.INFO, logger="portside.gc")
    with anyio.move_on_after(1.0):
        await collect_periodically(node.collector, 0.05)
    messages = [record.getMessage() for record in caplog.records]
    assert any("skipped" in message for message in messages), messages
    assert any("removed 0 blob link(s) and 1 blob(s)" in message for message in messages)
    assert not await stored(node, b"layer")


async def test_collect_periodically_with_interval_zero_never_runs(db: Database) -> None:
    node = Node(db, MemoryDriver())
    with anyio.fail_after(1):
        await collect_periodically(node.collector, 0)


class CommitHook(MemoryDriver):
    """Runs `after_commit` right after an upload's bytes are committed."""

    def __init__(self) -> None:
        super().__init__()
        self.after_commit: Callable[[], Awaitable[None]] | None = None

    async def upload_commit(self, upload_id: str, key: str) -> None:
        await super().upload_commit(upload_id, key)
        if self.after_commit is not None:
            await self.after_commit()


async def test_an_upload_commit_is_ordered_against_phase_b(db: Database) -> None:
    """The upload of a doomed blob drops its own bytes (the key exists): phase B must not
    delete the existing ones before the blob is linked. The collector runs right after the
    byte commit; it has to wait for the upload's transaction, then finds the blob linked."""
    driver = CommitHook()
    node = Node(db, driver, grace=GRACE)
    app = await node.target("app")
    await node.upload(app, b"layer")
    await BlobStore(db).unlink(app.registry_id, "app", str(Digest.of(b"layer")))
    await age(db, 2 * GRACE)
    assert await CollectorStore(db).doom(utcnow() - GRACE) == 1
    reports: list[GcReport] = []
    async with anyio.create_task_group() as tasks:
        collected = anyio.Event()

        async def collect() -> None:
            reports.append(await node.collector.collect())
            collected.set()

        async def during_commit() -> None:
            driver.after_commit = None
            tasks.start_soon(collect)
            with anyio.move_on_after(0.5):
                await collected.wait()  # it cannot finish while the upload is being recorded

        driver.after_commit = during_commit
        await node.upload(await node.target("again"), b"layer")
    assert reports[0].blobs_removed == 0
    assert await stored(node, b"layer")
    assert await invariant_violations(db, driver) == []
