"""Listing pages kept per process (metadata/listing_pages.py): served unread while the change
mark holds, and exact as soon as anything is committed, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from portside.metadata.artifacts import ArtifactStore
from portside.metadata.blobs import BlobStore
from portside.metadata.changes import DatabaseChanges
from portside.metadata.database import Database
from portside.metadata.listing_pages import RepositoryPages, TagPage, TagPages
from portside.metadata.manifests import ManifestStore, NewManifest
from portside.metadata.registries import RegistryStore
from portside.metadata.repositories import RepositoryStore
from portside.metadata.tags import TagStore

pytestmark = pytest.mark.anyio
BLOB = "sha256:" + "1" * 64
DIGEST = "sha256:" + "a" * 64
BOUND = 2.0
"""Seconds a commit may take to move a PostgreSQL mark (its notice's delivery)."""


class CountingTags(TagStore):
    """A TagStore that counts its reads."""

    reads = 0

    async def list_names(
        self,
        registry_id: int,
        repository: str,
        last: str | None,
        limit: int,
        unless_version: int | None = None,
    ) -> tuple[int, list[str] | None] | None:
        """As TagStore.list_names, counted."""
        self.reads += 1
        return await super().list_names(registry_id, repository, last, limit, unless_version)


class CountingRepositories(RepositoryStore):
    """A RepositoryStore that counts its name reads."""

    reads = 0

    async def list_names(self, registry_id: int, last: str | None, limit: int) -> list[str]:
        """As RepositoryStore.list_names, counted."""
        self.reads += 1
        return await super().list_names(registry_id, last, limit)


class FrozenMark(DatabaseChanges):
    """A mark that never moves: only the key can tell two pages apart."""

    def __init__(self) -> None:
        super().__init__("sqlite://")

    def mark(self) -> int | None:
        """Always the same mark."""
        return 1


def manifest(digest: str = DIGEST) -> NewManifest:
    """A small manifest referencing BLOB."""
    return NewManifest(digest, "application/vnd.oci.image.manifest.v1+json", None, b"{}", None,
                       {}, (BLOB,), ())  # fmt: skip


@pytest.fixture
async def changes(db: Database) -> AsyncIterator[DatabaseChanges]:
    """The database's change marks, listening (PostgreSQL's listener starts on first use)."""
    marks = DatabaseChanges(db.url)
    await until(lambda: marks.mark() is not None, "a mark")
    yield marks
    await marks.aclose()


async def until(check: Callable[[], bool], what: str) -> None:
    """Poll `check` for up to BOUND seconds."""
    deadline = time.monotonic() + BOUND
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.005)


async def quiet(changes: DatabaseChanges) -> None:
    """Until the mark has not moved for 50 ms (a PostgreSQL notice may arrive after its write)."""
    mark, since = changes.mark(), time.monotonic()
    while time.monotonic() - since < 0.05:
        await asyncio.sleep(0.005)
        if changes.mark() != mark:
            mark, since = changes.mark(), time.monotonic()


async def tagged(db: Database, registry_id: int, repository: str, *tags: str) -> None:
    """A repository holding one manifest under `tags`."""
    await BlobStore(db).add(registry_id, repository, BLOB, 1)
    for tag in tags:
        await ManifestStore(db).put(registry_id, repository, manifest(), tag)


async def settled(pages: TagPages, registry_id: int, uid: str, want: list[str]) -> TagPage:
    """The page of everything once it lists `want` (at once on SQLite, within BOUND on
    PostgreSQL, where a commit is heard by its notice)."""
    deadline = time.monotonic() + BOUND
    while True:
        page = await pages.page(registry_id, uid, "app", None, 100)
        if (page.names if page is not None else None) == want or time.monotonic() > deadline:
            assert page is not None and page.names == want
            return page
        await asyncio.sleep(0.005)


async def test_a_kept_page_is_served_unread_until_a_commit_elsewhere(
    db: Database, changes: DatabaseChanges
) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await tagged(db, registry.id, "app", "v1")
    tags = CountingTags(db)
    pages = TagPages(tags, changes)
    first = await settled(pages, registry.id, registry.uid, ["v1"])
    await quiet(changes)
    first = await settled(pages, registry.id, registry.uid, ["v1"])
    reads = tags.reads
    for _ in range(5):
        assert await pages.page(registry.id, registry.uid, "app", None, 100) is first
    assert tags.reads == reads  # no round trip while nothing was committed
    await ManifestStore(db).put(registry.id, "app", manifest(), "v2")  # "another node"
    second = await settled(pages, registry.id, registry.uid, ["v1", "v2"])
    assert second is not first and not second.more
    await TagStore(db).delete(registry.id, "app", "v1")
    await settled(pages, registry.id, registry.uid, ["v2"])


async def test_an_unrelated_commit_costs_a_version_check_not_a_new_page(
    db: Database, changes: DatabaseChanges
) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await tagged(db, registry.id, "app", "v1")
    pages = TagPages(TagStore(db), changes)
    first = await settled(pages, registry.id, registry.uid, ["v1"])
    before = changes.mark()
    await tagged(db, registry.id, "other", "x")  # moves the mark, not app's tag-list version
    await until(lambda: changes.mark() != before, "the mark moved")
    assert await pages.page(registry.id, registry.uid, "app", None, 100) is first


@pytest.mark.parametrize("marked", [True, False], ids=["mark", "no-mark"])
async def test_pages_are_kept_by_last_and_limit(
    db: Database, changes: DatabaseChanges, marked: bool
) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await tagged(db, registry.id, "app", "d", "b", "a", "c")
    pages = TagPages(TagStore(db), changes if marked else None)
    uid = registry.uid
    for _ in range(2):  # read, then kept: the same answers
        head = await pages.page(registry.id, uid, "app", None, 2)
        tail = await pages.page(registry.id, uid, "app", "b", 2)
        three = await pages.page(registry.id, uid, "app", None, 3)
        none = await pages.page(registry.id, uid, "app", None, 0)
        assert head is not None and (head.names, head.more) == (["a", "b"], True)
        assert tail is not None and (tail.names, tail.more) == (["c", "d"], False)
        assert three is not None and (three.names, three.more) == (["a", "b", "c"], True)
        assert none is not None and (none.names, none.more) == ([], True)
    assert await pages.page(registry.id, uid, "app", "d", 2) is not None


@pytest.mark.parametrize("marked", [True, False], ids=["mark", "no-mark"])
async def test_a_deleted_repository_is_unknown_and_its_namesake_starts_afresh(
    db: Database, changes: DatabaseChanges, marked: bool
) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await tagged(db, registry.id, "app", "old")
    pages = TagPages(TagStore(db), changes if marked else None)
    await settled(pages, registry.id, registry.uid, ["old"])
    assert await ArtifactStore(db).delete_repository(registry.id, "app") is not None
    deadline = time.monotonic() + BOUND
    while await pages.page(registry.id, registry.uid, "app", None, 100) is not None:
        assert time.monotonic() < deadline, "the deleted repository is still listed"
        await asyncio.sleep(0.005)
    await tagged(db, registry.id, "app", "new")
    await settled(pages, registry.id, registry.uid, ["new"])


async def test_registries_are_kept_apart_by_uid(db: Database, changes: DatabaseChanges) -> None:
    default = await RepositoryStore(db).ensure_registry("default")
    other = await RepositoryStore(db).ensure_registry("other")
    await tagged(db, default.id, "app", "in-default")
    await tagged(db, other.id, "app", "in-other")
    pages = TagPages(TagStore(db), changes)
    await settled(pages, default.id, default.uid, ["in-default"])
    await settled(pages, other.id, other.uid, ["in-other"])
    # Under a mark that never moves, only the key keeps a registry created again under the
    # same row id (SQLite may reuse one) from meeting its predecessor's page: the uid.
    tags = CountingTags(db)
    frozen = TagPages(tags, FrozenMark())
    kept = await frozen.page(default.id, default.uid, "app", None, 100)
    assert kept is not None and tags.reads == 1
    assert await frozen.page(default.id, default.uid, "app", None, 100) is kept
    assert await frozen.page(default.id, "another-uid", "app", None, 100) is not kept
    assert tags.reads == 2


async def test_a_registry_created_again_lists_only_its_own_tags(
    db: Database, changes: DatabaseChanges
) -> None:
    registries = RegistryStore(db)
    old, _ = await registries.ensure("team")
    await tagged(db, old.id, "app", "old")
    pages = TagPages(TagStore(db), changes)
    await settled(pages, old.id, old.uid, ["old"])
    assert await registries.delete("team")
    new, _ = await registries.ensure("team")
    assert new.uid != old.uid
    assert await pages.page(new.id, new.uid, "app", None, 100) is None
    await tagged(db, new.id, "app", "new")
    await settled(pages, new.id, new.uid, ["new"])


async def test_catalog_pages_are_kept_until_the_mark_moves(
    db: Database, changes: DatabaseChanges
) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await tagged(db, registry.id, "a", "v1")
    repositories = CountingRepositories(db)
    pages = RepositoryPages(repositories, changes)
    await quiet(changes)
    assert await pages.names(registry.id, registry.uid, None, 10) == ["a"]
    assert await pages.names(registry.id, registry.uid, None, 10) == ["a"]
    assert repositories.reads == 1
    await tagged(db, registry.id, "b", "v1")
    deadline = time.monotonic() + BOUND
    while await pages.names(registry.id, registry.uid, None, 10) != ["a", "b"]:
        assert time.monotonic() < deadline, "the new repository is not listed"
        await asyncio.sleep(0.005)
    assert await pages.names(registry.id, registry.uid, "a", 10) == ["b"]
    assert await RepositoryPages(repositories, None).names(registry.id, "", None, 1) == ["a"]


async def test_kept_names_are_bounded(db: Database, changes: DatabaseChanges) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    await tagged(db, registry.id, "app", "a", "b", "c", "d")
    tags = CountingTags(db)
    pages = TagPages(tags, FrozenMark(), max_names=3)
    first = await pages.page(registry.id, registry.uid, "app", None, 2)  # 2 names kept
    await pages.page(registry.id, registry.uid, "app", "b", 2)  # 4 > 3: the first page goes
    assert tags.reads == 2
    assert await pages.page(registry.id, registry.uid, "app", None, 2) is not first
    assert tags.reads == 3
