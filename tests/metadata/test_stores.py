"""Store behaviour the services rely on, on every metadata backend (see conftest.py)."""

from __future__ import annotations

import pytest

from portside.metadata.blobs import BlobStore
from portside.metadata.database import Database
from portside.metadata.manifests import ManifestStore, NewManifest
from portside.metadata.repositories import RepositoryStore, repository_id
from portside.metadata.tags import TagStore

pytestmark = pytest.mark.anyio

BLOB = "sha256:" + "1" * 64
CONFIG = "sha256:" + "2" * 64


def manifest(
    digest: str, blobs: tuple[str, ...] = (BLOB,), subject: str | None = None
) -> NewManifest:
    """A manifest row to store."""
    return NewManifest(
        digest=digest,
        media_type="application/vnd.oci.image.manifest.v1+json",
        artifact_type="application/x.test",
        body=b"{}",
        subject=subject,
        annotations={"k": "v"},
        blobs=blobs,
        children=(),
    )


async def test_registry_is_created_once(db: Database) -> None:
    store = RepositoryStore(db)
    first = await store.ensure_registry("contoso")
    again = await store.ensure_registry("contoso")
    other = await store.ensure_registry("fabrikam")
    assert first == again
    assert other.id != first.id


async def test_blob_links_are_per_repository(db: Database) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    blobs = BlobStore(db)
    await blobs.add(registry.id, "a", BLOB, 10)
    assert await blobs.linked_size(registry.id, "a", BLOB) == 10
    assert await blobs.linked_size(registry.id, "b", BLOB) is None
    assert await blobs.mount(registry.id, "a", "b", BLOB) == 10
    assert await blobs.linked_size(registry.id, "b", BLOB) == 10
    assert await blobs.unlink(registry.id, "a", BLOB)
    assert await blobs.linked_size(registry.id, "a", BLOB) is None
    assert await blobs.linked_size(registry.id, "b", BLOB) == 10


async def test_blobs_are_invisible_across_registries(db: Database) -> None:
    repos = RepositoryStore(db)
    a, b = await repos.ensure_registry("a"), await repos.ensure_registry("b")
    blobs = BlobStore(db)
    await blobs.add(a.id, "app", BLOB, 10)
    assert await blobs.linked_size(b.id, "app", BLOB) is None
    assert await blobs.mount(b.id, "app", "other", BLOB) is None


async def test_manifest_put_refuses_missing_references_and_writes_nothing(db: Database) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    store = ManifestStore(db)
    digest = "sha256:" + "a" * 64
    missing = await store.put(registry.id, "app", manifest(digest, (BLOB, CONFIG)), "v1")
    assert missing == [BLOB, CONFIG]
    assert await store.get(registry.id, "app", digest=digest) is None


async def test_tag_moves_and_deleting_manifest_takes_its_tags(db: Database) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "app", BLOB, 1)
    store, tags = ManifestStore(db), TagStore(db)
    first, second = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert await store.put(registry.id, "app", manifest(first), "v1") == []
    assert await store.put(registry.id, "app", manifest(second), "v1") == []
    found = await store.get(registry.id, "app", tag="v1")
    assert found is not None and found.digest == second
    await store.put(registry.id, "app", manifest(second), "v2")
    assert await tag_names(tags, registry.id, "app") == ["v1", "v2"]
    assert await store.delete(registry.id, "app", second)
    assert await tag_names(tags, registry.id, "app") == []
    assert await store.get(registry.id, "app", digest=first) is not None


async def test_referrers_follow_subject_and_filter(db: Database) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "app", BLOB, 1)
    store = ManifestStore(db)
    subject = "sha256:" + "5" * 64
    ref = "sha256:" + "6" * 64
    await store.put(registry.id, "app", manifest(ref, subject=subject), None)
    found = await store.referrers(registry.id, "app", subject, None)
    assert [(r.digest, r.artifact_type, r.annotations) for r in found] == [
        (ref, "application/x.test", {"k": "v"})
    ]
    assert await store.referrers(registry.id, "app", subject, "application/other") == []


async def test_a_read_sees_one_snapshot(db: Database) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    blobs = BlobStore(db)
    await blobs.add(registry.id, "a", BLOB, 1)
    async with db.read() as conn:
        assert await repository_id(conn, registry.id, "a") is not None
        await blobs.add(registry.id, "b", BLOB, 1)  # commits on another connection
        assert await repository_id(conn, registry.id, "b") is None
    assert await RepositoryStore(db).exists(registry.id, "b")


async def tag_names(store: TagStore, registry_id: int, repository: str) -> list[str] | None:
    """All tag names of a repository (None if it does not exist)."""
    found = await store.list_names(registry_id, repository, None, 100)
    return None if found is None else found[1]
