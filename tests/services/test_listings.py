"""Tag pages cached per process stay exact when another process changes the tags."""

from __future__ import annotations

import pytest

from portside.metadata.blobs import BlobStore
from portside.metadata.changes import DatabaseChanges
from portside.metadata.database import Database
from portside.metadata.manifests import ManifestStore, NewManifest
from portside.metadata.repositories import RepositoryStore
from portside.metadata.tags import TagStore
from portside.services.content.listings import ListingService
from portside.services.content.targets import Target
from portside.services.errors import NameUnknown

pytestmark = pytest.mark.anyio
BLOB = "sha256:" + "1" * 64


def manifest(digest: str) -> NewManifest:
    """A small manifest referencing BLOB."""
    return NewManifest(digest, "application/vnd.oci.image.manifest.v1+json", None, b"{}", None,
                       {}, (BLOB,), ())  # fmt: skip


async def test_cached_page_follows_changes_made_elsewhere(db: Database) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "app", BLOB, 1)
    other_node = ManifestStore(db)
    first, second = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    await other_node.put(registry.id, "app", manifest(first), "v1")
    # Exact at the next request on SQLite; PostgreSQL's marks follow commits by their notice,
    # polled for in tests/metadata/test_listing_pages.py: here its pages are checked by version.
    changes = DatabaseChanges(db.url if db.url.startswith("sqlite") else "sqlite://")
    listings = ListingService(RepositoryStore(db), TagStore(db), changes)
    target = Target(registry.id, "app")

    async def page() -> tuple[list[str], bool]:
        found = await listings.tags(target, None, None, registry_uid=registry.uid)
        return found.names, found.more

    try:
        assert await page() == (["v1"], False)
        assert await page() == (["v1"], False)  # from the cache
        await other_node.put(registry.id, "app", manifest(second), "v2")
        assert await page() == (["v1", "v2"], False)
        await TagStore(db).delete(registry.id, "app", "v1")
        assert await page() == (["v2"], False)
        await other_node.delete(registry.id, "app", second)  # takes its tag v2 with it
        assert await page() == ([], False)
        with pytest.raises(NameUnknown):
            await listings.tags(Target(registry.id, "none"), None, None, registry_uid="x")
    finally:
        await changes.aclose()


async def test_moving_a_tag_changes_the_version_but_repushing_does_not(db: Database) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "app", BLOB, 1)
    store, tags = ManifestStore(db), TagStore(db)
    first, second = "sha256:" + "a" * 64, "sha256:" + "b" * 64

    async def version() -> int:
        found = await tags.list_names(registry.id, "app", None, 10)
        assert found is not None
        return found[0]

    await store.put(registry.id, "app", manifest(first), "v1")
    after_create = await version()
    await store.put(registry.id, "app", manifest(first), "v1")
    assert await version() == after_create
    await store.put(registry.id, "app", manifest(second), "v1")
    assert await version() > after_create
