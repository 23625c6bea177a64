"""Lock flags and immutable tags in the stores, on every metadata backend: checks happen in the
changing transaction (nothing is written when one fails), and racing writers respect them."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from portside.metadata.artifacts import ArtifactStore
from portside.metadata.blobs import BlobStore
from portside.metadata.database import Database
from portside.metadata.errors import LockViolation, TagImmutableViolation
from portside.metadata.manifests import ManifestStore
from portside.metadata.repositories import RepositoryStore
from portside.metadata.schema import registries
from portside.metadata.tags import TagStore
from portside.metadata.uploads import UploadStore
from tests.metadata.test_concurrency import BLOB, WORKERS, manifest, race, tag_names

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def setup(db: Database) -> int:
    """The default registry with BLOB linked into repository `app`; its id."""
    registry = await RepositoryStore(db).ensure_registry("default")
    await BlobStore(db).add(registry.id, "app", BLOB, 10)
    return registry.id


async def version(db: Database, registry_id: int) -> int:
    """The tag-list version of `app`."""
    found = await TagStore(db).list_names(registry_id, "app", None, 10)
    assert found is not None
    return found[0]


async def test_write_locked_repository_refuses_every_write(db: Database) -> None:
    registry_id = await setup(db)
    store, artifacts = ManifestStore(db), ArtifactStore(db)
    await store.put(registry_id, "app", manifest(1), "v1")
    assert await artifacts.update_repository(registry_id, "app", {"write_enabled": False})
    with pytest.raises(LockViolation) as refused:
        await store.put(registry_id, "app", manifest(2), "v2")
    assert (refused.value.level, refused.value.name, refused.value.flag) == ("repository", "app",
                                                                           "write")  # fmt: skip
    for write in (
        BlobStore(db).add(registry_id, "app", "sha256:" + "2" * 64, 1),
        BlobStore(db).unlink(registry_id, "app", BLOB),
        UploadStore(db).create(registry_id, "app", "upload-1", b""),
        TagStore(db).delete(registry_id, "app", "v1"),
        store.delete(registry_id, "app", manifest(1).digest),
        artifacts.delete_repository(registry_id, "app"),
    ):
        with pytest.raises(LockViolation):
            await write
    assert await tag_names(TagStore(db), registry_id, "app") == ["v1"]
    assert await store.get(registry_id, "app", digest=manifest(2).digest) is None
    assert await BlobStore(db).linked_size(registry_id, "app", BLOB) == 10


async def test_refused_repository_delete_deletes_nothing(db: Database) -> None:
    registry_id = await setup(db)
    store, artifacts = ManifestStore(db), ArtifactStore(db)
    for i in range(3):
        await store.put(registry_id, "app", manifest(i), f"v{i}")
    assert await artifacts.update_tag(registry_id, "app", "v2", {"delete_enabled": False})
    with pytest.raises(LockViolation) as refused:
        await artifacts.delete_repository(registry_id, "app")
    assert (refused.value.level, refused.value.name) == ("tag", "v2")
    assert await tag_names(TagStore(db), registry_id, "app") == ["v0", "v1", "v2"]
    assert await artifacts.update_tag(registry_id, "app", "v2", {"delete_enabled": True})
    deleted = await artifacts.delete_repository(registry_id, "app")
    assert deleted is not None and deleted.tags == ("v0", "v1", "v2")
    assert sorted(deleted.manifests) == sorted(manifest(i).digest for i in range(3))
    assert await artifacts.repository(registry_id, "app") is None


async def test_only_a_change_of_list_enabled_changes_the_tag_list(db: Database) -> None:
    registry_id = await setup(db)
    artifacts = ArtifactStore(db)
    await ManifestStore(db).put(registry_id, "app", manifest(1), "v1")
    before = await version(db, registry_id)
    assert await artifacts.update_tag(registry_id, "app", "v1", {"write_enabled": False})
    assert await artifacts.update_tag(registry_id, "app", "v1", {"list_enabled": True})
    assert await version(db, registry_id) == before
    assert await artifacts.update_tag(registry_id, "app", "v1", {"list_enabled": False})
    assert await version(db, registry_id) > before
    assert await tag_names(TagStore(db), registry_id, "app") == []
    assert not await artifacts.update_tag(registry_id, "app", "nope", {"list_enabled": False})
    with pytest.raises(ValueError, match="not a lock flag"):
        await artifacts.update_tag(registry_id, "app", "v1", {"quarantined": True})


async def test_pushes_racing_for_an_immutable_tag(db: Database, db_url: str) -> None:
    registry_id = await setup(db)
    async with db.write() as conn:
        await conn.execute(update(registries).values(immutable_tags=True))

    async def push(d: Database, i: int) -> str:
        try:
            await ManifestStore(d).put(registry_id, "app", manifest(i), "release")
        except TagImmutableViolation:
            return "refused"
        return manifest(i).digest

    outcomes = await race(db_url, push)
    winners = [outcome for outcome in outcomes if outcome != "refused"]
    assert len(winners) == 1 and outcomes.count("refused") == WORKERS - 1
    found = await ManifestStore(db).get(registry_id, "app", tag="release")
    assert found is not None and found.digest == winners[0]


async def test_pushes_racing_a_tag_write_lock(db: Database, db_url: str) -> None:
    registry_id = await setup(db)
    await ManifestStore(db).put(registry_id, "app", manifest(0), "latest")

    async def push_or_lock(d: Database, i: int) -> str:
        if i == 0:
            await ArtifactStore(d).update_tag(
                registry_id, "app", "latest", {"write_enabled": False}
            )
            return "locked"
        try:
            await ManifestStore(d).put(registry_id, "app", manifest(i), "latest")
        except LockViolation:
            return "refused"
        return "moved"

    outcomes = await race(db_url, push_or_lock)
    # Once the lock committed, the tag stays where it was: check again, now, that it stays.
    found = await ManifestStore(db).get(registry_id, "app", tag="latest")
    assert found is not None
    with pytest.raises(LockViolation):
        await ManifestStore(db).put(registry_id, "app", manifest(WORKERS + 1), "latest")
    after = await ManifestStore(db).get(registry_id, "app", tag="latest")
    assert after is not None and after.digest == found.digest
    assert outcomes.count("locked") == 1
