"""The recycle bin on every metadata backend: soft delete, listing, restore (with taken tags,
index children, referrers, a deleted repository), deleted tags, and expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, update

from portside.metadata.artifacts import ArtifactStore
from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.errors import LockViolation, RestoreBlocked
from portside.metadata.recycle_bin import RecycleBinStore
from portside.metadata.restore import RestoreStore
from portside.metadata.schema import blobs, deleted_manifests, deleted_tags, repository_blobs
from portside.metadata.tags import TagStore
from tests.metadata.lifecycle_data import LAYER, image, index, registry

pytestmark = pytest.mark.anyio


async def test_without_soft_delete_nothing_is_kept(db: Database) -> None:
    reg = await registry(db)
    await reg.push(image(1), "v1")
    assert await TagStore(db).delete(reg.id, "app", "v1")
    assert await reg.manifests.delete(reg.id, "app", image(1).digest)
    assert await reg.bin_count() == 0
    assert await RecycleBinStore(db).tags(reg.id, "app") == []
    assert await RestoreStore(db).restore(reg.id, "app", image(1).digest, None) is None


async def test_soft_deleted_manifest_is_listed_and_restored_with_its_tags(db: Database) -> None:
    reg = await registry(db)
    await reg.policy(soft_delete_days=7)
    one = image(1)
    await reg.push(one, "v1")
    await reg.push(one, "latest")

    before = utcnow()
    assert await reg.manifests.delete(reg.id, "app", one.digest)
    assert await reg.digests() == set()
    [listed] = await RecycleBinStore(db).manifests(reg.id, "app")
    assert (listed.digest, listed.tags, listed.media_type) == (
        one.digest,
        ("latest", "v1"),
        one.media_type,
    )
    assert listed.deleted_at >= before - timedelta(seconds=1)
    assert listed.expires_at - listed.deleted_at == timedelta(days=7)

    restored = await RestoreStore(db).restore(reg.id, "app", one.digest, None)
    assert restored is not None
    assert restored.manifests == (one.digest,)
    assert set(restored.tags) == {"latest", "v1"} and restored.conflicts == ()
    assert await reg.tags() == {"v1": one.digest, "latest": one.digest}
    assert await reg.untagged_at(one.digest) is None
    record = await reg.manifests.get(reg.id, "app", tag="v1")
    assert record is not None and record.body == one.body
    assert await reg.bin_count() == 0


async def test_restore_reports_a_tag_taken_meanwhile(db: Database) -> None:
    reg = await registry(db)
    await reg.policy(soft_delete_days=1)
    one, two = image(1), image(2)
    await reg.push(one, "v1")
    await reg.manifests.delete(reg.id, "app", one.digest)
    await reg.push(two, "v1")

    restored = await RestoreStore(db).restore(reg.id, "app", one.digest, None)
    assert restored is not None and restored.tags == ()
    [conflict] = restored.conflicts
    assert (conflict.tag, conflict.digest, conflict.taken_by) == ("v1", one.digest, two.digest)
    assert await reg.tags() == {"v1": two.digest}
    assert await reg.digests() == {one.digest, two.digest}
    assert await reg.untagged_at(one.digest) is not None

    # Asked for other tags, it gets those.
    again = await RestoreStore(db).restore(reg.id, "app", one.digest, ["v1-old"])
    assert again is not None and again.manifests == () and again.tags == ("v1-old",)
    assert await reg.untagged_at(one.digest) is None


async def test_a_deleted_tag_alone_is_recorded_and_restored(db: Database) -> None:
    reg = await registry(db)
    await reg.policy(soft_delete_days=3)
    one = image(1)
    await reg.push(one, "v1")
    await reg.push(one, "v2")
    assert await TagStore(db).delete(reg.id, "app", "v1")
    [deleted] = await RecycleBinStore(db).tags(reg.id, "app")
    assert (deleted.name, deleted.digest) == ("v1", one.digest)
    assert await reg.bin_count() == 0  # the manifest stays

    restored = await RestoreStore(db).restore(reg.id, "app", one.digest, None)
    assert restored is not None and restored.manifests == () and restored.tags == ("v1",)
    assert await reg.tags() == {"v1": one.digest, "v2": one.digest}
    assert await RecycleBinStore(db).tags(reg.id, "app") == []


async def test_restoring_an_index_brings_back_its_children_and_referrers(db: Database) -> None:
    reg = await registry(db)
    await reg.policy(soft_delete_days=30)
    child = image(1)
    await reg.push(child)
    multi = index(10, [child])
    signature = image(2, subject=multi)
    await reg.push(multi, "multi")
    await reg.push(signature)

    await reg.manifests.delete(reg.id, "app", multi.digest)
    assert await reg.digests() == set()
    assert await reg.bin_count() == 3

    restored = await RestoreStore(db).restore(reg.id, "app", multi.digest, None)
    assert restored is not None
    assert restored.manifests == (child.digest, multi.digest, signature.digest)
    assert await reg.digests() == {child.digest, multi.digest, signature.digest}
    assert await reg.tags() == {"multi": multi.digest}
    assert await reg.bin_count() == 0
    referrers = await reg.manifests.referrers(reg.id, "app", multi.digest, None)
    assert [r.digest for r in referrers] == [signature.digest]


async def test_a_deleted_repository_comes_back_with_its_blob_links(db: Database) -> None:
    reg = await registry(db)
    await reg.policy(soft_delete_days=7)
    await reg.link("other")  # the blobs stay counted in the registry through `other`
    one, two = image(1), image(2)
    await reg.push(one, "v1")
    await reg.push(two, "v2")
    stored = await reg.storage()

    deleted = await ArtifactStore(db).delete_repository(reg.id, "app")
    assert deleted is not None and set(deleted.manifests) == {one.digest, two.digest}
    assert (await reg.storage())[1:] == (-1, 0)
    [gone] = await RecycleBinStore(db).repositories(reg.id)
    assert (gone.name, gone.manifests, gone.live) == ("app", 2, False)

    restored = await RestoreStore(db).restore(reg.id, "app", one.digest, None)
    assert restored is not None and restored.tags == ("v1",)
    assert await reg.storage() == stored
    assert await RecycleBinStore(db).repositories(reg.id) == []
    [still] = await RecycleBinStore(db).repositories(reg.id, include_live=True)
    assert (still.name, still.manifests, still.live) == ("app", 1, True)
    assert await reg.digests() == {one.digest}


async def test_restore_is_blocked_when_a_blob_is_gone_or_the_repository_locked(
    db: Database,
) -> None:
    reg = await registry(db)
    await reg.policy(soft_delete_days=7)
    await reg.push(image(1), "v1")
    await reg.push(image(2), "v2")
    await ArtifactStore(db).delete_repository(reg.id, "app")
    async with db.write() as conn:
        await conn.execute(delete(repository_blobs).where(repository_blobs.c.digest == LAYER))
        await conn.execute(delete(blobs).where(blobs.c.digest == LAYER))
    with pytest.raises(RestoreBlocked, match="is gone"):
        await RestoreStore(db).restore(reg.id, "app", image(1).digest, None)
    assert (await reg.storage())[1] == -1  # the repository was not created after all
    assert await reg.bin_count() == 2

    await reg.link("locked")
    await reg.push(image(3), "v3", repository="locked")
    await reg.manifests.delete(reg.id, "locked", image(3).digest)
    await ArtifactStore(db).update_repository(reg.id, "locked", {"write_enabled": False})
    with pytest.raises(LockViolation, match="repository locked is write-disabled"):
        await RestoreStore(db).restore(reg.id, "locked", image(3).digest, None)
    assert await reg.digests("locked") == set()


async def test_expiry_removes_expired_entries_and_stranded_tags(db: Database) -> None:
    reg = await registry(db)
    await reg.policy(soft_delete_days=7)
    old, recent, kept = image(1), image(2), image(3)
    for new, tag in ((old, "old"), (recent, "recent"), (kept, "kept")):
        await reg.push(new, tag)
    await TagStore(db).delete(reg.id, "app", "kept")  # its manifest stays
    await reg.manifests.delete(reg.id, "app", old.digest)
    await reg.manifests.delete(reg.id, "app", recent.digest)
    await TagStore(db).delete(reg.id, "app", "nothing")
    past = utcnow() - timedelta(seconds=1)
    async with db.write() as conn:
        await conn.execute(
            update(deleted_manifests)
            .where(deleted_manifests.c.digest == old.digest)
            .values(expires_at=past)
        )
    # A deleted tag whose manifest was then deleted for good (soft delete off meanwhile).
    await reg.policy(soft_delete_days=None)
    await reg.push(image(4), "stranded")
    await reg.policy(soft_delete_days=7)
    await TagStore(db).delete(reg.id, "app", "stranded")
    await reg.policy(soft_delete_days=None)
    await reg.manifests.delete(reg.id, "app", image(4).digest)

    assert await RecycleBinStore(db).expire() == (1, 1)
    assert [m.digest for m in await RecycleBinStore(db).manifests(reg.id, "app")] == [recent.digest]
    assert [t.name for t in await RecycleBinStore(db).tags(reg.id, "app")] == ["kept"]
    async with db.write() as conn:
        await conn.execute(update(deleted_tags).values(expires_at=past))
    assert await RecycleBinStore(db).expire() == (0, 1)
    assert await RecycleBinStore(db).expire() == (0, 0)
