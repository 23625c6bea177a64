"""Paged listings: tags of a repository, repositories of a registry."""

from __future__ import annotations

from portside.metadata.repositories import RepositoryStore
from portside.metadata.tags import TagStore
from portside.services.errors import NameUnknown
from portside.services.targets import Target

__all__ = ["MAX_PAGE", "ListingService"]

# Upper bound on one page, whatever `n` asks for, so one request cannot list everything.
MAX_PAGE = 10_000


class ListingService:
    """Lexically ordered pages of names, continued with `last`."""

    def __init__(self, repositories: RepositoryStore, tags: TagStore) -> None:
        self._repositories = repositories
        self._tags = tags

    async def tags(self, target: Target, last: str | None, n: int | None) -> tuple[list[str], bool]:
        """A page of tag names and whether more follow."""
        limit = _limit(n)
        names = await self._tags.list_names(target.registry_id, target.repository, last, limit + 1)
        if names is None:
            raise NameUnknown("repository name not known to registry", {"name": target.repository})
        return names[:limit], len(names) > limit

    async def repositories(
        self, registry_id: int, last: str | None, n: int | None
    ) -> tuple[list[str], bool]:
        """A page of repository names and whether more follow."""
        limit = _limit(n)
        names = await self._repositories.list_names(registry_id, last, limit + 1)
        return names[:limit], len(names) > limit


def _limit(n: int | None) -> int:
    return MAX_PAGE if n is None else max(0, min(n, MAX_PAGE))
