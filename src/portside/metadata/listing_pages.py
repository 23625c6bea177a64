"""`TagPages`, `RepositoryPages`: listing pages kept per process, served unread while exact.

A page is kept with two proofs of currency. The repository's tag-list version (bumped in every
transaction that adds, moves or removes one of its tags, and started at a random point for a
repository created again under an old name: metadata/repositories.py) makes a page checkable
in one short read instead of reading the names again. The `DatabaseChanges` mark
(metadata/changes.py) taken before that read makes it checkable with no read at all: while the
mark is unchanged nothing was committed since, by any connection of any node, so the page is
what the database holds (on PostgreSQL once the commit's notice has arrived:
metadata/change_notices.py). Without a mark (a read replica, the listener not yet listening)
every request checks the version, as before the mark existed.

Pages are keyed by the registry's uid as well as its row id (row ids may be reused, uids never
are), the repository's name, `last` and the limit; at most `_MAX_NAMES` names are kept per
process, least recently used first out.

The catalog's pages of repository names have no version to check: they are kept under the mark
alone, and all dropped when it moves.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from portside.metadata.changes import DatabaseChanges
from portside.metadata.repositories import RepositoryStore
from portside.metadata.tags import TagStore

__all__ = ["Encoding", "RepositoryPages", "TagPage", "TagPages"]

# ~100 bytes a name with its encoding: some 10 MiB per process at most.
_MAX_NAMES = 100_000
_MAX_ENCODINGS = 4

_Key = tuple[str, int, str, str | None, int]
Encoding = tuple[bytes, str | None]
"""A page as answered: its body, and the Link to the next page (None when none follows)."""


@dataclass(frozen=True, slots=True, eq=False)
class TagPage:
    """Listable tag names in lexical order after `last`, and whether more follow.

    A page is never changed once read; a change in the database makes a new one. So whatever
    is derived from a page is as exact as the page: `encodings` keeps answers rendered from it
    (api/v2/listings.py), so that serving a kept page encodes nothing.
    """

    names: list[str]
    more: bool
    encodings: dict[tuple[str, int | None] | None, Encoding] = field(default_factory=dict)

    def encoding(self, key: tuple[str, int | None] | None) -> Encoding | None:
        """The answer rendered for `key`, if it was kept."""
        return self.encodings.get(key)

    def keep_encoding(self, key: tuple[str, int | None] | None, encoding: Encoding) -> None:
        """Keep an answer rendered for `key` (a few per page: `n` and the path vary the Link)."""
        if len(self.encodings) >= _MAX_ENCODINGS:
            self.encodings.clear()
        self.encodings[key] = encoding


@dataclass(slots=True)
class _Kept:
    page: TagPage
    version: int
    mark: int | None


class TagPages:
    """Pages of a repository's tag names, read through `TagStore`, kept while exact."""

    def __init__(
        self, tags: TagStore, changes: DatabaseChanges | None, max_names: int = _MAX_NAMES
    ) -> None:
        """Read through `tags`; serve a kept page unread while `changes` shows its mark."""
        self._tags = tags
        self._changes = changes
        self._kept: OrderedDict[_Key, _Kept] = OrderedDict()
        self._names = 0
        self._max_names = max_names

    async def page(
        self, registry_id: int, registry_uid: str, repository: str, last: str | None, limit: int
    ) -> TagPage | None:
        """The page of up to `limit` names after `last`; None if the repository does not exist."""
        key = (registry_uid, registry_id, repository, last, limit)
        # Taken before any read: a commit after it moves the mark, and costs only a read.
        mark = None if self._changes is None else self._changes.mark()
        kept = self._kept.get(key)
        if kept is not None and mark is not None and kept.mark == mark:
            self._kept.move_to_end(key)
            return kept.page
        found = await self._tags.list_names(
            registry_id,
            repository,
            last,
            limit + 1,
            unless_version=None if kept is None else kept.version,
        )
        if found is None:
            self._forget(key)
            return None
        version, names = found
        if names is None:  # the version is the kept page's: it is still exact
            assert kept is not None
            kept.mark = mark
            if self._kept.get(key) is kept:  # (unless another request replaced it meanwhile)
                self._kept.move_to_end(key)
            return kept.page
        page = TagPage(names[:limit], len(names) > limit)
        self._keep(key, _Kept(page, version, mark))
        return page

    def _keep(self, key: _Key, kept: _Kept) -> None:
        self._forget(key)
        self._kept[key] = kept
        self._names += len(kept.page.names)
        while self._names > self._max_names and len(self._kept) > 1:
            _, oldest = self._kept.popitem(last=False)
            self._names -= len(oldest.page.names)

    def _forget(self, key: _Key) -> None:
        gone = self._kept.pop(key, None)
        if gone is not None:
            self._names -= len(gone.page.names)


class RepositoryPages:
    """Pages of a registry's listable repository names, kept while the mark is unchanged."""

    def __init__(
        self,
        repositories: RepositoryStore,
        changes: DatabaseChanges | None,
        max_names: int = _MAX_NAMES,
    ) -> None:
        """Read through `repositories`; serve a kept page unread while `changes` shows its mark."""
        self._repositories = repositories
        self._changes = changes
        self._mark: int | None = None
        self._kept: dict[tuple[str, int, str | None, int], list[str]] = {}
        self._names = 0
        self._max_names = max_names

    async def names(
        self, registry_id: int, registry_uid: str, last: str | None, limit: int
    ) -> list[str]:
        """As `RepositoryStore.list_names` (the caller must not change the list)."""
        mark = None if self._changes is None else self._changes.mark()
        if mark is None:
            return await self._repositories.list_names(registry_id, last, limit)
        if mark != self._mark:
            self._kept.clear()
            self._names = 0
            self._mark = mark
        key = (registry_uid, registry_id, last, limit)
        kept = self._kept.get(key)
        if kept is not None:
            return kept
        names = await self._repositories.list_names(registry_id, last, limit)
        if self._mark == mark:  # (not if another request saw the mark move meanwhile)
            if self._names + len(names) > self._max_names:
                self._kept.clear()
                self._names = 0
            self._kept[key] = names
            self._names += len(names)
        return names
