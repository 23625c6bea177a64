"""ArtifactStore on every metadata backend: attributes, counts, and pages in every order (ties on
time broken by name or digest, continued after the last item seen)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from portside.metadata.artifacts import (
    BY_NAME,
    TIME_ASCENDING,
    TIME_DESCENDING,
    ArtifactStore,
)
from portside.metadata.blobs import BlobStore
from portside.metadata.database import Database
from portside.metadata.errors import UnknownCursor
from portside.metadata.manifests import ManifestStore
from portside.metadata.repositories import RepositoryStore
from portside.metadata.schema import manifests, tags
from tests.metadata.test_concurrency import BLOB, manifest

pytestmark = pytest.mark.anyio
BASE = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


async def all_pages(fetch: object, key: str, n: int) -> list[str]:
    """Every item's `key` attribute, fetching pages of `n` after the last item seen."""
    seen: list[str] = []
    last: str | None = None
    while True:
        page = await fetch(last, n)  # type: ignore[operator]
        seen.extend(getattr(item, key) for item in page)
        if len(page) < n:
            return seen
        last = getattr(page[-1], key)


async def test_tag_pages_in_every_order(db: Database) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "app", BLOB, 10)
    store, artifacts = ManifestStore(db), ArtifactStore(db)
    for i, name in enumerate(["e", "a", "d", "b", "c", "f"]):
        await store.put(registry.id, "app", manifest(i % 2), name)
    times = {"c": 0, "a": 1, "e": 1, "f": 1, "b": 2, "d": 2}
    async with db.write() as conn:
        for name, offset in times.items():
            when = BASE + timedelta(seconds=offset)
            await conn.execute(update(tags).where(tags.c.name == name).values(updated_at=when))
    ascending = ["c", "a", "e", "f", "b", "d"]
    for order, expected in (
        (BY_NAME, sorted(ascending)),
        (TIME_ASCENDING, ascending),
        (TIME_DESCENDING, ascending[::-1]),
    ):
        for n in (1, 2, 5):

            async def fetch(last: str | None, limit: int, order: str = order) -> object:
                return await artifacts.tags(registry.id, "app", last=last, limit=limit, order=order)

            assert await all_pages(fetch, "name", n) == expected, (order, n)
    only = await artifacts.tags(
        registry.id, "app", last=None, limit=10, order=TIME_ASCENDING, digest=manifest(1).digest
    )
    assert only is not None and [t.name for t in only] == ["a", "f", "b"]
    assert only[0].created_at.tzinfo is not None and only[0].updated_at == BASE + timedelta(
        1 / 86400
    )
    with pytest.raises(UnknownCursor):
        await artifacts.tags(registry.id, "app", last="zz", limit=2, order=TIME_DESCENDING)
    assert await artifacts.tags(registry.id, "none", last=None, limit=2) is None


async def test_manifest_pages_and_repository_counts(db: Database) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "app", BLOB, 10)
    store, artifacts = ManifestStore(db), ArtifactStore(db)
    for i in range(4):
        await store.put(registry.id, "app", manifest(i), f"v{i}" if i < 3 else None)
    await store.put(registry.id, "app", manifest(0), "latest")
    async with db.write() as conn:
        for i in range(4):
            when = BASE + timedelta(seconds=i // 2)
            digest = manifest(i).digest
            await conn.execute(
                update(manifests).where(manifests.c.digest == digest).values(created_at=when)
            )
    for order, expected in (
        (TIME_ASCENDING, [manifest(i).digest for i in (0, 1, 2, 3)]),
        (TIME_DESCENDING, [manifest(i).digest for i in (3, 2, 1, 0)]),
    ):

        async def fetch(last: str | None, limit: int, order: str = order) -> object:
            return await artifacts.manifests(
                registry.id, "app", last=last, limit=limit, order=order
            )

        assert await all_pages(fetch, "digest", 1) == expected, order
    first = await artifacts.manifest(registry.id, "app", manifest(0).digest)
    assert first is not None
    assert first.tags == ("latest", "v0") and first.blob_size == 10
    assert first.size == len(manifest(0).body) and first.flags.read_enabled
    found = await artifacts.repository(registry.id, "app")
    assert found is not None and (found.manifest_count, found.tag_count) == (4, 4)
    assert found.flags.write_enabled and found.updated_at >= found.created_at
