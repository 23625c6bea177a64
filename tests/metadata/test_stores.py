"""Store behaviour the services rely on, on every metadata backend (see conftest.py)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from portside.metadata.blobs import BlobStore
from portside.metadata.database import Database
from portside.metadata.manifests import ManifestStore, NewManifest
from portside.metadata.migrate import upgrade
from portside.metadata.registries import RegistryStore
from portside.metadata.repositories import RepositoryStore, repository_id
from portside.metadata.tags import TagStore
from tests.backends.postgres import postgres_cluster

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


async def test_registries_get_the_lowest_free_login_slots_even_when_made_at_once(
    db: Database,
) -> None:
    store = RegistryStore(db)
    default, _ = await store.ensure("default")
    assert default.login_slot is None
    made = await asyncio.gather(*(store.create(f"r{i}", login_slot=True) for i in range(6)))
    assert sorted(r.login_slot for r in made if r is not None) == [1, 2, 3, 4, 5, 6]
    holder = await store.by_login_slot(3)
    assert holder is not None and holder.login_slot == 3
    assert await store.by_login_slot(7) is None
    assert await store.delete(holder.name)
    # A registry without a slot (made before slots existed) gets the lowest free one, once.
    assigned = await store.assign_login_slot("default")
    assert assigned is not None and assigned.login_slot == 3
    again = await store.assign_login_slot("default")
    assert again is not None and again.login_slot == 3
    assert await store.assign_login_slot("missing") is None
    later = await store.create("later", login_slot=True)
    assert later is not None and later.login_slot == 7


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


def test_lexical_order_on_a_database_with_a_language_collation(
    request: pytest.FixtureRequest,
) -> None:
    """Tags and repositories page in code-point order even where the database's own locale
    would sort "a" before "B" (PostgreSQL created with ICU en-US)."""
    cluster = postgres_cluster(request.config)
    name = f"portside_icu_{uuid.uuid4().hex[:12]}"
    cluster.execute(
        f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
    )
    try:
        url = cluster.url(name)
        upgrade(url)
        asyncio.run(_check_code_point_order(url))
    finally:
        cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _check_code_point_order(url: str) -> None:
    db = Database(url)
    try:
        registry = await RepositoryStore(db).ensure_registry("default")
        await BlobStore(db).add(registry.id, "b", BLOB, 1)
        await BlobStore(db).add(registry.id, "a-b", BLOB, 1)
        await BlobStore(db).add(registry.id, "a.b", BLOB, 1)
        store = ManifestStore(db)
        for index, tag in enumerate(["a", "B", "_x", "Z9"]):
            await store.put(registry.id, "b", manifest("sha256:" + f"{index}" * 64), tag)
        assert await tag_names(TagStore(db), registry.id, "b") == ["B", "Z9", "_x", "a"]
        for listed in ("a-b", "a.b"):  # a repository is listed while it holds a manifest
            await store.put(registry.id, listed, manifest("sha256:" + "9" * 64), "v")
        assert await RepositoryStore(db).list_names(registry.id, None, 10) == ["a-b", "a.b", "b"]
    finally:
        await db.close()
