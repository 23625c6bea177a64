"""The collector's store: which links and blobs are dead, and their removal after re-checks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from portside.metadata.blobs import BlobStore
from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.gc import CollectorStore, Forecast, FreedBlob
from portside.metadata.manifests import ManifestStore, NewManifest
from portside.metadata.repositories import RepositoryStore
from portside.metadata.schema import (
    blobs,
    deleted_manifest_blobs,
    deleted_manifests,
    registries,
    registry_blobs,
    repositories,
    repository_blobs,
)

pytestmark = pytest.mark.anyio

KEPT = "sha256:" + "a" * 64
LOOSE = "sha256:" + "b" * 64
GRACE = timedelta(minutes=60)


def manifest(*digests: str, n: int = 0) -> NewManifest:
    """A manifest referencing `digests`."""
    return NewManifest(
        digest=f"sha256:{n:064x}",
        media_type="application/vnd.oci.image.manifest.v1+json",
        artifact_type=None,
        body=b'{"n": %d}' % n,
        subject=None,
        annotations={},
        blobs=digests,
        children=(),
    )


async def age(db: Database, by: timedelta) -> None:
    """Make every blob and link `by` older (as if pushed that long ago)."""
    async with db.engine.begin() as conn:
        rows = (await conn.execute(select(blobs.c.digest, blobs.c.created_at))).all()
        for digest, created in rows:
            await conn.execute(
                update(blobs).where(blobs.c.digest == digest).values(created_at=created - by)
            )
        links = (await conn.execute(select(repository_blobs))).all()
        for link in links:
            await conn.execute(
                update(repository_blobs)
                .where(
                    repository_blobs.c.repository_id == link.repository_id,
                    repository_blobs.c.digest == link.digest,
                )
                .values(created_at=link.created_at - by, touched_at=link.touched_at - by)
            )


async def linked(db: Database) -> set[tuple[str, str]]:
    """(repository, digest) of every link."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(repositories.c.name, repository_blobs.c.digest).join(
                repositories, repositories.c.id == repository_blobs.c.repository_id
            )
        )
        return {(name, digest) for name, digest in rows}


async def blob_rows(db: Database) -> dict[str, datetime | None]:
    """digest → doomed_at of every blob row."""
    async with db.read() as conn:
        return dict((await conn.execute(select(blobs.c.digest, blobs.c.doomed_at))).all())


async def counters(db: Database) -> tuple[int, list[int], int]:
    """The registry's bytes, each repository's bytes, the registry_blobs rows."""
    async with db.read() as conn:
        registry = await conn.scalar(select(registries.c.storage_bytes))
        repos = list(
            (
                await conn.scalars(
                    select(repositories.c.storage_bytes).order_by(repositories.c.name)
                )
            ).all()
        )
        rows = await conn.scalar(select(func.count()).select_from(registry_blobs))
        return int(registry or 0), repos, int(rows or 0)


async def setup(db: Database) -> int:
    """Repository `app` with KEPT (referenced by a manifest) and LOOSE (only linked)."""
    registry = await RepositoryStore(db).ensure_registry("default")
    store = BlobStore(db)
    await store.add(registry.id, "app", KEPT, 10)
    await store.add(registry.id, "app", LOOSE, 7)
    assert await ManifestStore(db).put(registry.id, "app", manifest(KEPT), "v1") == []
    return registry.id


async def collect(store: CollectorStore, cutoff: datetime) -> tuple[list[str], list[FreedBlob]]:
    """A whole collection through the store: links, phase A, phase B."""
    removed: list[str] = []
    for link in await store.dead_links(cutoff, None, 1000):
        removed += await store.unlink_unused(
            link.registry_id, link.repository_id, link.repository, [link.digest], cutoff
        )
    await store.doom(cutoff)
    deleted: list[bytes] = []

    async def delete_bytes(digests: list[str]) -> None:
        deleted.extend(digest.encode() for digest in digests)

    freed = await store.delete_doomed(await store.doomed(None, 1000), cutoff, delete_bytes)
    assert sorted(blob.digest.encode() for blob in freed) == sorted(deleted)
    return removed, freed


async def test_only_unreferenced_links_past_the_grace_period_go(db: Database) -> None:
    await setup(db)
    store = CollectorStore(db)
    # Everything is younger than the grace period: nothing goes.
    assert await collect(store, utcnow() - GRACE) == ([], [])
    assert await linked(db) == {("app", KEPT), ("app", LOOSE)}
    await age(db, 2 * GRACE)
    removed, freed = await collect(store, utcnow() - GRACE)
    assert removed == [LOOSE]
    assert freed == [FreedBlob(LOOSE, 7)]
    assert await linked(db) == {("app", KEPT)}
    assert set(await blob_rows(db)) == {KEPT}
    assert await counters(db) == (10, [10], 1)


async def test_a_deleted_manifest_leaves_its_blobs_to_the_collector(db: Database) -> None:
    registry_id = await setup(db)
    await age(db, 2 * GRACE)
    assert await ManifestStore(db).delete(registry_id, "app", f"sha256:{0:064x}")
    removed, freed = await collect(CollectorStore(db), utcnow() - GRACE)
    assert sorted(removed) == [KEPT, LOOSE]
    assert {blob.digest for blob in freed} == {KEPT, LOOSE}
    assert await blob_rows(db) == {}
    assert await counters(db) == (0, [0], 0)


async def test_a_blob_linked_elsewhere_keeps_its_row(db: Database) -> None:
    registry_id = await setup(db)
    assert await BlobStore(db).mount(registry_id, "app", "other", LOOSE) == 7
    await age(db, 2 * GRACE)
    # Both links are unreferenced: both go, and then the blob.
    removed, freed = await collect(CollectorStore(db), utcnow() - GRACE)
    assert removed == [LOOSE, LOOSE]
    assert freed == [FreedBlob(LOOSE, 7)]
    # A fresh link elsewhere keeps the blob when its old, unreferenced link goes.
    assert await BlobStore(db).mount(registry_id, "app", "other", KEPT) == 10
    assert await ManifestStore(db).delete(registry_id, "app", f"sha256:{0:064x}")
    removed, freed = await collect(CollectorStore(db), utcnow() - GRACE)
    assert removed == [KEPT] and freed == []
    assert await linked(db) == {("other", KEPT)}
    assert set(await blob_rows(db)) == {KEPT}


async def test_recycled_manifests_keep_their_blobs(db: Database) -> None:
    registry_id = await setup(db)
    await age(db, 2 * GRACE)
    assert await ManifestStore(db).delete(registry_id, "app", f"sha256:{0:064x}")
    now = utcnow()
    async with db.engine.begin() as conn:
        recycled = await conn.scalar(
            insert(deleted_manifests)
            .values(
                registry_id=registry_id,
                repository="app",
                digest=f"sha256:{0:064x}",
                media_type="application/vnd.oci.image.manifest.v1+json",
                size=10,
                body=b"{}",
                created_at=now,
                deleted_at=now,
                expires_at=now + timedelta(days=7),
            )
            .returning(deleted_manifests.c.id)
        )
        await conn.execute(
            insert(deleted_manifest_blobs).values(deleted_manifest_id=recycled, digest=KEPT)
        )
    store = CollectorStore(db)
    assert await store.forecast(utcnow() - GRACE) == Forecast(1, 1, 7)
    removed, freed = await collect(store, utcnow() - GRACE)
    assert removed == [LOOSE] and freed == [FreedBlob(LOOSE, 7)]
    assert await linked(db) == {("app", KEPT)}
    # The recycled reference keeps the blob row even without any link (repository gone).
    async with db.engine.begin() as conn:
        await conn.execute(update(repositories).values(name="renamed"))
    removed, freed = await collect(store, utcnow() - GRACE)
    assert removed == [KEPT] and freed == []
    assert set(await blob_rows(db)) == {KEPT}


async def test_a_touched_link_survives(db: Database) -> None:
    registry_id = await setup(db)
    await age(db, 2 * GRACE)
    assert await BlobStore(db).touch(registry_id, "app", LOOSE)
    assert not await BlobStore(db).touch(registry_id, "app", "sha256:" + "f" * 64)
    removed, freed = await collect(CollectorStore(db), utcnow() - GRACE)
    assert removed == [] and freed == []
    link = await BlobStore(db).link(registry_id, "app", LOOSE)
    assert link is not None and link.touched_at is not None
    assert link.touched_at > utcnow() - timedelta(minutes=1)


async def test_uploading_or_mounting_an_existing_link_touches_it(db: Database) -> None:
    registry_id = await setup(db)
    assert await BlobStore(db).mount(registry_id, "app", "other", LOOSE) == 7
    await age(db, 2 * GRACE)
    await BlobStore(db).add(registry_id, "app", LOOSE, 7)
    assert await BlobStore(db).mount(registry_id, "app", "other", LOOSE) == 7
    removed, freed = await collect(CollectorStore(db), utcnow() - GRACE)
    assert removed == [] and freed == []


async def test_a_doomed_blob_revived_by_a_new_link_is_kept(db: Database) -> None:
    registry_id = await setup(db)
    await age(db, 2 * GRACE)
    store = CollectorStore(db)
    cutoff = utcnow() - GRACE
    for link in await store.dead_links(cutoff, None, 100):
        await store.unlink_unused(
            link.registry_id, link.repository_id, link.repository, [link.digest], cutoff
        )
    assert await store.doom(cutoff) == 1
    assert (await blob_rows(db))[LOOSE] is not None
    # A push of the same layer between phase A and phase B.
    await BlobStore(db).add(registry_id, "again", LOOSE, 7)
    assert (await blob_rows(db))[LOOSE] is None, "a new link clears doomed_at"

    async def delete_bytes(digests: list[str]) -> None:
        raise AssertionError(f"bytes of {digests} deleted")

    assert await store.delete_doomed([LOOSE], cutoff, delete_bytes) == []
    assert await linked(db) == {("app", KEPT), ("again", LOOSE)}


async def test_phase_b_rechecks_a_doomed_blob_that_got_linked(db: Database) -> None:
    """doomed_at may be set on a linked blob (phase A racing a link on PostgreSQL): the
    re-check under the row lock keeps it, and it is no longer doomed."""
    await setup(db)
    await age(db, 2 * GRACE)
    async with db.engine.begin() as conn:
        await conn.execute(update(blobs).values(doomed_at=utcnow()))

    async def delete_bytes(digests: list[str]) -> None:
        raise AssertionError(f"bytes of {digests} deleted")

    store = CollectorStore(db)
    assert await store.delete_doomed([KEPT, LOOSE], utcnow(), delete_bytes) == []
    assert await blob_rows(db) == {KEPT: None, LOOSE: None}
    assert await linked(db) == {("app", KEPT), ("app", LOOSE)}


async def test_a_linked_and_referenced_link_is_rechecked_before_removal(db: Database) -> None:
    registry_id = await setup(db)
    await age(db, 2 * GRACE)
    store = CollectorStore(db)
    cutoff = utcnow() - GRACE
    [dead] = await store.dead_links(cutoff, None, 100)
    assert dead.digest == LOOSE
    # Between listing and removal, a manifest comes to reference it.
    assert await ManifestStore(db).put(registry_id, "app", manifest(LOOSE, n=1), "v2") == []
    assert await store.unlink_unused(registry_id, dead.repository_id, "app", [LOOSE], cutoff) == []
    assert await linked(db) == {("app", KEPT), ("app", LOOSE)}


async def test_forecast_matches_what_a_collection_removes(db: Database) -> None:
    registry_id = await setup(db)
    await BlobStore(db).mount(registry_id, "app", "other", KEPT)
    await BlobStore(db).add(registry_id, "other", "sha256:" + "c" * 64, 5)
    await age(db, 2 * GRACE)
    store = CollectorStore(db)
    before = await counters(db)
    forecast = await store.forecast(utcnow() - GRACE)
    assert forecast == Forecast(3, 2, 12)
    assert await counters(db) == before, "a forecast changes nothing"
    removed, freed = await collect(store, utcnow() - GRACE)
    assert Forecast(len(removed), len(freed), sum(b.size for b in freed)) == forecast
    assert await store.forecast(utcnow() - GRACE) == Forecast(0, 0, 0)


async def test_dead_links_page_in_key_order(db: Database) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    digests = [f"sha256:{n:064x}" for n in range(1, 8)]
    for digest in digests:
        await BlobStore(db).add(registry.id, "app", digest, 1)
    await age(db, 2 * GRACE)
    store = CollectorStore(db)
    seen: list[str] = []
    after: tuple[int, str] | None = None
    while page := await store.dead_links(utcnow() - GRACE, after, 3):
        assert len(page) <= 3
        seen += [link.digest for link in page]
        after = (page[-1].repository_id, page[-1].digest)
    assert seen == digests
