"""The lifecycle service on every metadata backend: untagged retention, keep-last-N rules,
soft delete together with retention, policy validation, and the periodic job."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import anyio
import pytest
from sqlalchemy import update

from portside.config import Settings
from portside.metadata.artifacts import ArtifactStore
from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.leases import LeaseStore
from portside.metadata.retention import LifecyclePolicy
from portside.metadata.schema import tags
from portside.runtime import Runtime
from portside.services.lifecycle.service import LEASE, LifecycleService, run_lifecycle_periodically
from portside.services.management.errors import Conflict, Invalid, NotFound
from tests.metadata.lifecycle_data import image, index, registry

pytestmark = pytest.mark.anyio


def lifecycle_service(db: Database) -> LifecycleService:
    """The lifecycle service over `db`, as the composition root builds it."""
    return Runtime(Settings(), database=db).lifecycle


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 20) -> bool:
    """Whether `check` comes true within `seconds` (polled)."""
    for _ in range(int(seconds / 0.02)):
        if await check():
            return True
        await anyio.sleep(0.02)
    return False


async def _empty(found: Awaitable[set[str]]) -> bool:
    return not await found


async def _retried(caplog: pytest.LogCaptureFixture, times: int) -> bool:
    return sum("will retry" in r.getMessage() for r in caplog.records) >= times


async def test_untagged_retention_keeps_children_referrers_locked_and_recent(
    db: Database,
) -> None:
    reg = await registry(db)
    service = lifecycle_service(db)
    await service.update_policy("default", LifecyclePolicy(retention_untagged_days=3))
    old, recent, locked, child = image(1), image(2), image(3), image(4)
    subject = image(5)
    signature = image(6, subject=subject)
    for new in (old, recent, locked, child, signature):
        await reg.push(new)
    await reg.push(subject, "v1")
    multi = index(10, [child])
    await reg.push(multi, "multi")
    long_ago = utcnow() - timedelta(days=3, minutes=1)
    for digest in (old.digest, locked.digest, child.digest, signature.digest):
        await reg.age(digest, long_ago)
    await reg.age(recent.digest, utcnow() - timedelta(days=2, hours=23))
    await ArtifactStore(db).update_manifest(reg.id, "app", locked.digest, {"write_enabled": False})

    summary = await service.run_once()
    assert (summary.registries, summary.manifests_deleted, summary.skipped) == (1, 1, 1)
    assert await reg.digests() == {
        recent.digest,
        locked.digest,
        child.digest,
        subject.digest,
        signature.digest,
        multi.digest,
    }

    # The index loses its tag long ago: it goes, and its child with it.
    await ArtifactStore(db).update_manifest(reg.id, "app", locked.digest, {"write_enabled": True})
    await service.update_policy("default", LifecyclePolicy(retention_untagged_days=0))
    await reg.push(subject, "multi")  # the tag moves off the index
    summary = await service.run_once()
    assert summary.manifests_deleted == 4  # recent, locked, multi, child
    assert await reg.digests() == {subject.digest, signature.digest}


async def test_keep_last_rules_delete_older_matching_tags_except_locked(db: Database) -> None:
    reg = await registry(db)
    service = lifecycle_service(db)
    for n in range(6):
        await reg.push(image(n), f"v{n}")
    await reg.push(image(0), "stable")
    base = utcnow() - timedelta(days=1)
    async with db.write() as conn:
        for n in range(6):
            await conn.execute(
                update(tags)
                .where(tags.c.name == f"v{n}")
                .values(updated_at=base + timedelta(minutes=n))
            )
    await ArtifactStore(db).update_tag(reg.id, "app", "v1", {"delete_enabled": False})
    rule = await service.add_rule("default", "*", "^v[0-9]+$", 2)
    assert (rule.repositories, rule.tag_filter, rule.keep_last) == ("*", "^v[0-9]+$", 2)
    await service.add_rule("default", "other/*", ".*", 1)

    summary = await service.run_once()
    assert (summary.tags_deleted, summary.skipped) == (3, 1)
    assert set(await reg.tags()) == {"v5", "v4", "v1", "stable"}
    # The manifests stay, untagged, for untagged retention.
    assert len(await reg.digests()) == 6
    assert await reg.untagged_at(image(2).digest) is not None

    with pytest.raises(Conflict):
        await service.add_rule("default", "*", "^v[0-9]+$", 5)
    await service.delete_rule("default", rule.id)
    with pytest.raises(NotFound):
        await service.delete_rule("default", rule.id)
    assert [r.repositories for r in await service.rules("default")] == ["other/*"]


async def test_retention_under_soft_delete_fills_the_recycle_bin(db: Database) -> None:
    reg = await registry(db)
    service = lifecycle_service(db)
    await service.update_policy(
        "default", LifecyclePolicy(retention_untagged_days=0, soft_delete_days=10)
    )
    one, two = image(1), image(2)
    await reg.push(one, "v1")
    await reg.push(two, "v1")  # one is untagged now
    await service.add_rule("default", "app", ".*", 1)
    await reg.push(two, "v2")  # keeps v2 (newest); v1 goes, then two is still tagged

    summary = await service.run_once()
    assert (summary.tags_deleted, summary.manifests_deleted) == (1, 1)
    assert await reg.digests() == {two.digest}
    [binned] = await service.deleted_manifests("default", "app")
    assert binned.digest == one.digest
    [tag] = await service.deleted_tags("default", "app")
    assert (tag.name, tag.digest) == ("v1", two.digest)

    restored = await service.restore("default", "app", one.digest, ["back"])
    assert restored.manifests == (one.digest,)
    assert await reg.tags() == {"back": one.digest, "v2": two.digest}


async def test_policy_ranges_and_unknown_registries(db: Database) -> None:
    await registry(db)
    service = lifecycle_service(db)
    for bad in (
        LifecyclePolicy(retention_untagged_days=-1),
        LifecyclePolicy(retention_untagged_days=366),
        LifecyclePolicy(soft_delete_days=0),
        LifecyclePolicy(soft_delete_days=91),
    ):
        with pytest.raises(Invalid):
            await service.update_policy("default", bad)
    good = LifecyclePolicy(365, 90, True)
    assert await service.update_policy("DEFAULT", good) == good
    assert await service.policy("default") == good
    with pytest.raises(NotFound):
        await service.policy("nosuch")
    for repositories, tag_filter, keep in (("bad name!", ".*", 1), ("*", "(", 1), ("*", ".*", 0)):
        with pytest.raises(Invalid):
            await service.add_rule("default", repositories, tag_filter, keep)


async def test_periodic_job_runs_under_the_lease_and_survives_failures(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    reg = await registry(db)
    service = lifecycle_service(db)
    await service.update_policy("default", LifecyclePolicy(retention_untagged_days=0))
    await reg.push(image(1))
    caplog.set_level(logging.INFO, logger="portside.services.lifecycle.service")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run_lifecycle_periodically, service, 0.05)
        assert await eventually(lambda: _empty(reg.digests()))
        assert await LeaseStore(db).holder(LEASE) is not None
        tasks.cancel_scope.cancel()
    assert await LeaseStore(db).holder(LEASE) is None  # released at shutdown
    assert any("1 manifest(s) deleted" in r.getMessage() for r in caplog.records)

    # Another holder has the lease: nothing runs.
    assert await LeaseStore(db).acquire(LEASE, "elsewhere", timedelta(minutes=5))
    assert await service.run_leased("me", timedelta(minutes=1)) is None

    class Broken(LifecycleService):
        async def run_leased(self, holder: str, ttl: timedelta) -> None:  # type: ignore[override]
            raise RuntimeError("database on fire")

    broken = Broken(lifecycle_service(db).stores)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run_lifecycle_periodically, broken, 0.01)
        assert await eventually(lambda: _retried(caplog, 2))
        tasks.cancel_scope.cancel()


@pytest.mark.timeout(60)
async def test_a_catastrophic_rule_does_not_stall_the_lifecycle_run(db: Database) -> None:
    reg = await registry(db)
    service = lifecycle_service(db)
    name = "a" * 40
    await reg.push(image(1), name)
    await reg.push(image(2), "other")
    # Matches no tag: every tag stays, however long the name.
    await service.add_rule("default", "*", "(a|a)*b", 1)
    with anyio.fail_after(2):
        summary = await service.run_once()
    assert summary.tags_deleted == 0
    assert set(await reg.tags()) == {name, "other"}
    for unsupported in ("(v)\\1", "^v(?!1)"):
        with pytest.raises(Invalid, match="RE2"):
            await service.add_rule("default", "*", unsupported, 1)
