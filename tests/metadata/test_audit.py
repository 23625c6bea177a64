"""The audit log's store on every metadata backend: appended records read back whole, each
registry's own by uid (never another's, even after a delete and re-create under its name),
filters, keyset pages, pruning by age in bounded batches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from portside.metadata.audit import AuditEntry, AuditFilter, AuditStore
from portside.metadata.database import Database
from portside.metadata.errors import UnknownCursor
from portside.metadata.registries import RegistryStore
from portside.metadata.repositories import RepositoryStore

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def entry(registry: str = "alpha", **changes: object) -> AuditEntry:
    """A record of a successful manifest push into `registry` (uid looked up on append)."""
    base = AuditEntry(
        at=T0,
        registry=registry,
        registry_uid=None,
        identity_kind="token",
        identity_id="ci-token",
        client="192.0.2.7",
        action="manifest.push",
        target="app:v1@sha256:" + "a" * 64,
        outcome="success",
        status=201,
        request_id="req-1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def uid_of(db: Database, name: str) -> str:
    record = await RegistryStore(db).get(name)
    assert record is not None
    return record.uid


async def test_records_read_back_whole_and_only_in_their_registry(db: Database) -> None:
    repositories = RepositoryStore(db)
    await repositories.ensure_registry("alpha")
    await repositories.ensure_registry("beta")
    store = AuditStore(db)
    written = entry(action="manifest.push")
    assert await store.append([written, entry("beta", identity_id="beta-token")]) == 2

    alpha, beta = await uid_of(db, "alpha"), await uid_of(db, "beta")
    [found] = await store.registry_page(alpha, AuditFilter())
    assert found.entry == replace(written, registry_uid=alpha)
    [other] = await store.registry_page(beta, AuditFilter())
    assert other.entry.identity_id == "beta-token"
    # A cursor of another registry's record is refused, not followed into that registry.
    with pytest.raises(UnknownCursor):
        await store.registry_page(alpha, AuditFilter(), last=other.id)


async def test_a_registry_created_again_does_not_see_the_old_records(db: Database) -> None:
    repositories, registries = RepositoryStore(db), RegistryStore(db)
    await repositories.ensure_registry("alpha")
    old_uid = await uid_of(db, "alpha")
    store = AuditStore(db)
    await store.append([entry()])
    record = await registries.get("alpha")
    assert record is not None
    await registries.delete("alpha")
    # Written after the registry is gone: it names no uid (the deployment's log shows it).
    await store.append([entry(action="registries.delete")])
    await repositories.ensure_registry("alpha")
    new_uid = await uid_of(db, "alpha")
    assert new_uid != old_uid
    assert await store.registry_page(new_uid, AuditFilter()) == []
    assert len(await store.registry_page(old_uid, AuditFilter())) == 1
    everything = await store.deployment_page(AuditFilter(), registry="alpha")
    assert [r.entry.action for r in everything] == ["registries.delete", "manifest.push"]
    assert everything[0].entry.registry_uid is None


async def test_filters_and_pages(db: Database) -> None:
    await RepositoryStore(db).ensure_registry("alpha")
    uid = await uid_of(db, "alpha")
    store = AuditStore(db)
    await store.append(
        [
            entry(at=T0 + timedelta(minutes=i), action=action, identity_id=who)
            for i, (action, who) in enumerate(
                [
                    ("upload.start", "ci-token"),
                    ("blob.push", "ci-token"),
                    ("manifest.push", "ci-token"),
                    ("manifest.delete", "alpha"),
                    ("login", "ci-token"),
                ]
            )
        ]
    )
    newest = await store.registry_page(uid, AuditFilter())
    assert [r.entry.action for r in newest] == [
        "login",
        "manifest.delete",
        "manifest.push",
        "blob.push",
        "upload.start",
    ]
    family = await store.registry_page(uid, AuditFilter(action="manifest"))
    assert [r.entry.action for r in family] == ["manifest.delete", "manifest.push"]
    exact = await store.registry_page(uid, AuditFilter(action="manifest.push"))
    assert [r.entry.action for r in exact] == ["manifest.push"]
    assert await store.registry_page(uid, AuditFilter(action="manifest.p")) == []
    by_name = await store.registry_page(uid, AuditFilter(identity="alpha"))
    assert [r.entry.action for r in by_name] == ["manifest.delete"]
    by_kind = await store.registry_page(uid, AuditFilter(identity="token:ci-token"))
    assert len(by_kind) == 4  # all but the one by "alpha"
    assert await store.registry_page(uid, AuditFilter(identity="sp:ci-token")) == []
    assert len(await store.registry_page(uid, AuditFilter(identity="token:"))) == 5
    assert await store.registry_page(uid, AuditFilter(identity="sp:")) == []
    recent = await store.registry_page(uid, AuditFilter(since=T0 + timedelta(minutes=3)))
    assert [r.entry.action for r in recent] == ["login", "manifest.delete"]

    first = await store.registry_page(uid, AuditFilter(), limit=2)
    second = await store.registry_page(uid, AuditFilter(), last=first[-1].id, limit=2)
    third = await store.registry_page(uid, AuditFilter(), last=second[-1].id, limit=2)
    assert [r.id for r in first + second + third] == [r.id for r in newest]


async def test_equal_times_page_by_id(db: Database) -> None:
    await RepositoryStore(db).ensure_registry("alpha")
    uid = await uid_of(db, "alpha")
    store = AuditStore(db)
    await store.append([entry(target=f"app:{i}") for i in range(5)])
    seen = []
    last = None
    while True:
        page = await store.registry_page(uid, AuditFilter(), last=last, limit=2)
        if not page:
            break
        seen += [r.entry.target for r in page]
        last = page[-1].id
    assert seen == [f"app:{i}" for i in reversed(range(5))]


async def test_prune_deletes_old_records_in_bounded_batches(db: Database) -> None:
    await RepositoryStore(db).ensure_registry("alpha")
    uid = await uid_of(db, "alpha")
    store = AuditStore(db)
    old = [entry(at=T0 - timedelta(days=100), target=f"old:{i}") for i in range(5)]
    await store.append([*old, entry(target="new")])
    cutoff = T0 - timedelta(days=90)
    assert await store.prune(cutoff, 2) == 2
    assert await store.prune(cutoff, 2) == 2
    assert await store.prune(cutoff, 2) == 1
    assert await store.prune(cutoff, 2) == 0
    [kept] = await store.registry_page(uid, AuditFilter())
    assert kept.entry.target == "new"


async def test_nothing_to_append(db: Database) -> None:
    assert await AuditStore(db).append([]) == 0
