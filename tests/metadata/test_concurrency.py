"""Writers racing for the same rows end in one consistent state, on every metadata backend.

Each worker has its own Database (its own engines, its own connections), as separate Portside
processes behind a load balancer would. Workers open a connection first and then wait at a barrier,
so that their transactions really overlap instead of queueing behind connection setup. On SQLite
the writes are serialised by BEGIN IMMEDIATE; the races these tests look for happen on PostgreSQL
under READ COMMITTED, where "select, then insert if missing" lets two writers both insert.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import pytest
from sqlalchemy import Table, func, select

from portside.metadata.blobs import BlobStore
from portside.metadata.database import Database
from portside.metadata.manifests import ManifestStore, NewManifest
from portside.metadata.repositories import RepositoryStore
from portside.metadata.schema import (
    blobs,
    manifest_blobs,
    manifests,
    registries,
    repositories,
    repository_blobs,
    tags,
    uploads,
)
from portside.metadata.tags import TagStore
from portside.metadata.uploads import UploadStore

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

WORKERS = 20
DEADLINE_SECONDS = 60
BLOB = "sha256:" + "1" * 64
T = TypeVar("T")


def manifest(n: int) -> NewManifest:
    """The n-th distinct manifest referencing BLOB."""
    return NewManifest(
        digest=f"sha256:{n:064x}",
        media_type="application/vnd.oci.image.manifest.v1+json",
        artifact_type=None,
        body=b'{"n": %d}' % n,
        subject=None,
        annotations={},
        blobs=(BLOB,),
        children=(),
    )


async def race(db_url: str, action: Callable[[Database, int], Awaitable[T]]) -> list[T]:
    """Run `action(database, i)` in WORKERS workers at once; raise every failure together."""
    databases = [Database(db_url) for _ in range(WORKERS)]
    barrier = asyncio.Barrier(WORKERS)

    async def worker(i: int) -> T:
        await databases[i].ping()
        await barrier.wait()
        return await action(databases[i], i)

    try:
        with anyio.fail_after(DEADLINE_SECONDS):
            results = await asyncio.gather(
                *(worker(i) for i in range(WORKERS)), return_exceptions=True
            )
    finally:
        for database in databases:
            await database.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise BaseExceptionGroup(f"{len(errors)} of {WORKERS} workers failed", errors)
    return [r for r in results if not isinstance(r, BaseException)]


async def rows(db: Database, table: Table) -> int:
    """How many rows `table` holds."""
    async with db.read() as conn:
        count = await conn.scalar(select(func.count()).select_from(table))
    return int(count or 0)


async def repository_names(db: Database) -> list[str]:
    """Every repository row's name (listings show only those holding a manifest)."""
    async with db.read() as conn:
        return sorted((await conn.scalars(select(repositories.c.name))).all())


async def test_ensure_registry_creates_one_registry(db: Database, db_url: str) -> None:
    found = await race(db_url, lambda d, _: RepositoryStore(d).ensure_registry("contoso"))
    assert len({record.id for record in found}) == 1
    assert await rows(db, registries) == 1


async def test_same_blob_into_a_new_repository(db: Database, db_url: str) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await race(db_url, lambda d, _: BlobStore(d).add(registry.id, "new", BLOB, 10))
    assert await BlobStore(db).linked_size(registry.id, "new", BLOB) == 10
    assert await repository_names(db) == ["new"]
    assert (await rows(db, blobs), await rows(db, repository_blobs)) == (1, 1)


async def test_same_blob_mounted_into_a_new_repository(db: Database, db_url: str) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "source", BLOB, 10)
    sizes = await race(db_url, lambda d, _: BlobStore(d).mount(registry.id, "source", "dst", BLOB))
    assert sizes == [10] * WORKERS
    assert await repository_names(db) == ["dst", "source"]
    assert await rows(db, repository_blobs) == 2


async def test_uploads_started_in_a_new_repository(db: Database, db_url: str) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await race(db_url, lambda d, i: UploadStore(d).create(registry.id, "new", f"u{i}", b""))
    assert (await rows(db, repositories), await rows(db, uploads)) == (1, WORKERS)


async def test_same_manifest_with_the_same_tag(db: Database, db_url: str) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "app", BLOB, 10)
    pushed = manifest(1)
    missing = await race(
        db_url, lambda d, _: ManifestStore(d).put(registry.id, "app", pushed, "v1")
    )
    assert missing == [[]] * WORKERS
    found = await ManifestStore(db).get(registry.id, "app", tag="v1")
    assert found is not None and found.digest == pushed.digest
    assert await tag_names(TagStore(db), registry.id, "app") == ["v1"]
    assert (await rows(db, manifests), await rows(db, manifest_blobs)) == (1, 1)


async def test_new_manifests_racing_for_one_new_tag(db: Database, db_url: str) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "app", BLOB, 10)
    await race(db_url, lambda d, i: ManifestStore(d).put(registry.id, "app", manifest(i), "latest"))
    found = await ManifestStore(db).get(registry.id, "app", tag="latest")
    assert found is not None and found.digest in {manifest(i).digest for i in range(WORKERS)}
    assert await tag_names(TagStore(db), registry.id, "app") == ["latest"]
    assert (await rows(db, manifests), await rows(db, tags)) == (WORKERS, 1)


async def test_tag_moved_between_existing_manifests(db: Database, db_url: str) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "app", BLOB, 10)
    store = ManifestStore(db)
    for i in range(WORKERS):
        await store.put(registry.id, "app", manifest(i), "latest" if i == 0 else None)
    await race(db_url, lambda d, i: ManifestStore(d).put(registry.id, "app", manifest(i), "latest"))
    found = await store.get(registry.id, "app", tag="latest")
    assert found is not None and found.digest in {manifest(i).digest for i in range(WORKERS)}
    assert (await rows(db, manifests), await rows(db, tags)) == (WORKERS, 1)


async def test_push_racing_delete_of_one_manifest(db: Database, db_url: str) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "app", BLOB, 10)
    pushed = manifest(1)
    await ManifestStore(db).put(registry.id, "app", pushed, "v1")

    async def push_or_delete(d: Database, i: int) -> object:
        if i % 2:
            return await ManifestStore(d).delete(registry.id, "app", pushed.digest)
        return await ManifestStore(d).put(registry.id, "app", pushed, "v1")

    await race(db_url, push_or_delete)
    # Whichever won last, a tag never outlives its manifest and there is at most one of each.
    stored = await ManifestStore(db).get(registry.id, "app", digest=pushed.digest)
    tagged = await ManifestStore(db).get(registry.id, "app", tag="v1")
    assert tagged is None or (stored is not None and tagged.digest == stored.digest)
    assert await rows(db, manifests) <= 1 and await rows(db, tags) <= 1


async def tag_names(store: TagStore, registry_id: int, repository: str) -> list[str] | None:
    """All tag names of a repository (None if it does not exist)."""
    found = await store.list_names(registry_id, repository, None, 100)
    return None if found is None else found[1]
