"""Deletion on every metadata backend: the untagged clock, referrer and index-child cascades,
locks over the whole cascade, and policy deletions that skip locked items."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portside.metadata.artifacts import ArtifactStore
from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.errors import LockViolation
from portside.metadata.pruning import PruneStore
from portside.metadata.tags import TagStore
from tests.metadata.lifecycle_data import image, index, registry

pytestmark = pytest.mark.anyio


async def test_untagged_clock_starts_when_the_last_tag_goes_and_stops_when_tagged(
    db: Database,
) -> None:
    reg = await registry(db)
    one, two = image(1), image(2)
    before = utcnow()
    await reg.push(one)
    pushed_bare = await reg.untagged_at(one.digest)
    assert pushed_bare is not None and pushed_bare >= before - timedelta(seconds=1)

    await reg.push(one, "v1")
    assert await reg.untagged_at(one.digest) is None
    await reg.push(one, "stable")
    await reg.push(two, "v1")  # v1 moves away; `stable` still names one
    assert await reg.untagged_at(one.digest) is None
    assert await reg.untagged_at(two.digest) is None

    assert await TagStore(db).delete(reg.id, "app", "stable")
    lost = await reg.untagged_at(one.digest)
    assert lost is not None and lost >= pushed_bare
    await reg.push(two, "latest")
    await reg.push(one, "v1")  # v1 moves back: two keeps `latest`
    assert await reg.untagged_at(one.digest) is None
    assert await reg.untagged_at(two.digest) is None
    await reg.push(one, "latest")
    assert await reg.untagged_at(two.digest) is not None

    # Pushing again by digest, or a tag that already names it, changes nothing.
    await reg.push(one)
    assert await reg.untagged_at(one.digest) is None


@pytest.mark.parametrize("keep", [False, True])
async def test_referrers_go_with_their_subject_unless_kept(db: Database, keep: bool) -> None:
    reg = await registry(db)
    await reg.policy(keep_orphan_referrers=keep)
    subject = image(1)
    signature = image(2, subject=subject)
    sbom_signature = image(3, subject=signature)
    other = image(4)
    for new in (subject, signature, sbom_signature, other):
        await reg.push(new)
    await reg.push(subject, "v1")

    assert await reg.manifests.delete(reg.id, "app", subject.digest)
    remaining = await reg.digests()
    if keep:
        assert remaining == {signature.digest, sbom_signature.digest, other.digest}
    else:
        # The referrer's own referrer goes too.
        assert remaining == {other.digest}
    assert await reg.tags() == {}


async def test_index_children_go_unless_tagged_or_kept_by_another_index(db: Database) -> None:
    reg = await registry(db)
    only, shared, tagged = image(1), image(2), image(3)
    for child in (only, shared, tagged):
        await reg.push(child)
    await reg.push(tagged, "amd64")
    first = index(10, [only, shared, tagged])
    second = index(11, [shared])
    await reg.push(first, "multi")
    await reg.push(second)

    assert await reg.manifests.delete(reg.id, "app", first.digest)
    assert await reg.digests() == {shared.digest, tagged.digest, second.digest}
    assert await reg.manifests.delete(reg.id, "app", second.digest)
    assert await reg.digests() == {tagged.digest}


async def test_a_lock_anywhere_in_the_cascade_refuses_a_user_delete(db: Database) -> None:
    reg = await registry(db)
    subject, child = image(1), image(2)
    signature = image(3, subject=subject)
    await reg.push(child)
    multi = index(10, [child])
    for new in (subject, signature, multi):
        await reg.push(new)
    artifacts = ArtifactStore(db)
    await artifacts.update_manifest(reg.id, "app", signature.digest, {"delete_enabled": False})
    await artifacts.update_manifest(reg.id, "app", child.digest, {"write_enabled": False})

    with pytest.raises(LockViolation) as refused:
        await reg.manifests.delete(reg.id, "app", subject.digest)
    assert (refused.value.level, refused.value.name, refused.value.flag) == (
        "manifest",
        signature.digest,
        "delete",
    )
    with pytest.raises(LockViolation, match="write-disabled"):
        await reg.manifests.delete(reg.id, "app", multi.digest)
    assert await reg.digests() == {subject.digest, signature.digest, child.digest, multi.digest}


async def test_policies_skip_locked_items_and_take_the_rest(db: Database) -> None:
    reg = await registry(db)
    locked_child, free_child = image(1), image(2)
    await reg.push(locked_child)
    await reg.push(free_child)
    multi = index(10, [locked_child, free_child])
    await reg.push(multi)
    await ArtifactStore(db).update_manifest(
        reg.id, "app", locked_child.digest, {"delete_enabled": False}
    )

    removed = await PruneStore(db).delete_untagged(
        reg.id, "app", multi.digest, before=None, reason="untagged"
    )
    assert [(r.digest, r.reason, r.skipped) for r in removed] == [
        (multi.digest, "untagged", None),
        (free_child.digest, f"child of {multi.digest}", None),
        (
            locked_child.digest,
            f"child of {multi.digest}",
            f"manifest {locked_child.digest} is delete-disabled",
        ),
    ]
    assert await reg.digests() == {locked_child.digest}


async def test_tag_deletion_is_refused_or_skipped_by_locks(db: Database) -> None:
    reg = await registry(db)
    await reg.push(image(1), "v1")
    await ArtifactStore(db).update_tag(reg.id, "app", "v1", {"write_enabled": False})
    with pytest.raises(LockViolation, match="tag v1 is write-disabled"):
        await TagStore(db).delete(reg.id, "app", "v1")
    skipped = await PruneStore(db).delete_tag(reg.id, "app", "v1", image(1).digest, "filter")
    assert skipped is not None and skipped.skipped == "tag v1 is write-disabled"
    # A tag that moved since the candidates were listed is left alone.
    assert await PruneStore(db).delete_tag(reg.id, "app", "v1", image(2).digest, "filter") is None
    assert await reg.tags() == {"v1": image(1).digest}
