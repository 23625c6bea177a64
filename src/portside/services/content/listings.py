"""Paged listings: tags of a repository, repositories of a registry.

Both leave out what is list-disabled; the catalog also leaves out repositories the caller may
not see (the `visible` predicate), and keeps reading until it has a full page or the end.
"""

from __future__ import annotations

from collections.abc import Callable

from portside.metadata.changes import DatabaseChanges
from portside.metadata.listing_pages import RepositoryPages, TagPage, TagPages
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
        self,
        repositories: RepositoryStore,
        tags: TagStore,
        changes: DatabaseChanges | None = None,
    ) -> None:
        # Pages are kept per process, exact on every node: checked by the database's change
        # mark (no round trip) or, without one, by the repository's tag-list version
        # (metadata/listing_pages.py).
        self._tag_pages = TagPages(tags, changes)
        self._repository_pages = RepositoryPages(repositories, changes)

    async def tags(
        self, target: Target, last: str | None, n: int | None, *, registry_uid: str
    ) -> TagPage:
        """A page of tag names and whether more follow (`registry_uid` is the target's
        registry's uid: row ids may be reused, uids never are)."""
        page = await self._tag_pages.page(
            target.registry_id, registry_uid, target.repository, last, page_limit(n)
        )
        if page is None:
            raise NameUnknown("repository name not known to registry", {"name": target.repository})
        return page

    async def repositories(
        self,
        registry_id: int,
        last: str | None,
        n: int | None,
        visible: Callable[[str], bool] | None = None,
        *,
        registry_uid: str,
    ) -> tuple[list[str], bool]:
        """A page of listable repository names the caller may see, and whether more follow
        (`registry_uid` is the registry's uid, which pages are kept by)."""
        limit = page_limit(n)
        if visible is None:
            names = await self._repository_pages.names(registry_id, registry_uid, last, limit + 1)
            return names[:limit], len(names) > limit
        found: list[str] = []
        batch = max(limit + 1, _CATALOG_BATCH)
        while len(found) <= limit:
            names = await self._repository_pages.names(registry_id, registry_uid, last, batch)
            for name in names:  # no further than the page needs: asking costs per name
                if visible(name):
                    found.append(name)
                    if len(found) > limit:
                        break
            if len(names) < batch:
                break
            last = names[-1]
        return found[:limit], len(found) > limit


def page_limit(n: int | None, maximum: int = MAX_PAGE) -> int:
    """The page size for `n` (None: as many as allowed), within 0..maximum."""
    return maximum if n is None else max(0, min(n, maximum))
