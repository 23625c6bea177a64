"""Paged listings: tags of a repository, repositories of a registry.

Both leave out what is list-disabled; the catalog also leaves out repositories the caller may
not see (the `visible` predicate), and keeps reading until it has a full page or the end.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from portside.metadata.repositories import RepositoryStore
from portside.metadata.tags import TagStore
from portside.services.content.targets import Target
from portside.services.errors import NameUnknown

__all__ = ["MAX_PAGE", "ListingService", "page_limit"]

# Upper bound on one page, whatever `n` asks for, so one request cannot list everything.
MAX_PAGE = 10_000
# Names read per catalog query when the caller's visibility filters some out.
_CATALOG_BATCH = 500


class ListingService:
    """Lexically ordered pages of names, continued with `last`."""

    def __init__(
        self, repositories: RepositoryStore, tags: TagStore, cache_entries: int = 512
    ) -> None:
        self._repositories = repositories
        self._tags = tags
        # Tag pages by (registry, repository, last, limit) with the tag-list version they were
        # read at. Every request checks the version in the database, so a page is served from
        # here only while it is exactly what the database holds, on any node.
        self._pages: OrderedDict[tuple[int, str, str | None, int], tuple[int, list[str]]]
        self._pages = OrderedDict()
        self._cache_entries = cache_entries

    async def tags(self, target: Target, last: str | None, n: int | None) -> tuple[list[str], bool]:
        """A page of tag names and whether more follow."""
        limit = page_limit(n)
        key = (target.registry_id, target.repository, last, limit)
        cached = self._pages.get(key)
        found = await self._tags.list_names(
            target.registry_id,
            target.repository,
            last,
            limit + 1,
            unless_version=None if cached is None else cached[0],
        )
        if found is None:
            self._pages.pop(key, None)
            raise NameUnknown("repository name not known to registry", {"name": target.repository})
        version, names = found
        if names is None:
            assert cached is not None
            names = cached[1]
            self._pages.move_to_end(key)
        else:
            self._remember(key, version, names)
        return names[:limit], len(names) > limit

    def _remember(
        self, key: tuple[int, str, str | None, int], version: int, names: list[str]
    ) -> None:
        self._pages[key] = (version, names)
        self._pages.move_to_end(key)
        while len(self._pages) > self._cache_entries:
            self._pages.popitem(last=False)

    async def repositories(
        self,
        registry_id: int,
        last: str | None,
        n: int | None,
        visible: Callable[[str], bool] | None = None,
    ) -> tuple[list[str], bool]:
        """A page of listable repository names the caller may see, and whether more follow."""
        limit = page_limit(n)
        if visible is None:
            names = await self._repositories.list_names(registry_id, last, limit + 1)
            return names[:limit], len(names) > limit
        found: list[str] = []
        batch = max(limit + 1, _CATALOG_BATCH)
        while len(found) <= limit:
            names = await self._repositories.list_names(registry_id, last, batch)
            found.extend(name for name in names if visible(name))
            if len(names) < batch:
                break
            last = names[-1]
        return found[:limit], len(found) > limit


def page_limit(n: int | None, maximum: int = MAX_PAGE) -> int:
    """The page size for `n` (None: as many as allowed), within 0..maximum."""
    return maximum if n is None else max(0, min(n, maximum))
