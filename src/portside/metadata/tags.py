"""Tags: listing and removal (moving a tag happens with the manifest push).

List-disabled tags are left out of the list; removal checks the lock flags (metadata/locks.py)
and keeps the untagged clock and the recycle bin (metadata/deletion.py).
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.deletion import delete_tag, repository_ref
from portside.metadata.schema import repositories, tags
from portside.metadata.webhooks import EventContext

__all__ = ["TagStore"]

# Built once (every tag name is > "", so an empty `last` starts at the beginning).
_PAGE = (
    select(tags.c.name)
    .where(
        tags.c.repository_id == bindparam("repository_id"),
        tags.c.name > bindparam("last"),
        tags.c.list_enabled,
    )
    .order_by(tags.c.name)
    .limit(bindparam("limit"))
)

_VERSION = select(repositories.c.id, repositories.c.tags_version).where(
    repositories.c.registry_id == bindparam("registry_id"),
    repositories.c.name == bindparam("name"),
)


class TagStore:
    """Tag names per repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_names(
        self,
        registry_id: int,
        repository: str,
        last: str | None,
        limit: int,
        unless_version: int | None = None,
    ) -> tuple[int, list[str] | None] | None:
        """(tag-list version, listable names in lexical order after `last`), in one snapshot.

        None if the repository does not exist. The names are None when the version equals
        `unless_version`: the caller's copy is still exact.
        """
        async with self._db.read() as conn:
            row = (
                await conn.execute(_VERSION, {"registry_id": registry_id, "name": repository})
            ).first()
            if row is None:
                return None
            repo_id, version = row
            if version == unless_version:
                return version, None
            params = {"repository_id": repo_id, "last": last or "", "limit": limit}
            return version, list((await conn.scalars(_PAGE, params)).all())

    @retry_on_conflict
    async def delete(
        self, registry_id: int, repository: str, tag: str, context: EventContext | None = None
    ) -> bool:
        """Remove one tag, leaving its manifest; False if there was no such tag.

        The manifest starts its untagged clock if that was its last tag; under soft delete
        the tag is recorded in the recycle bin (metadata/deletion.py). Raises LockViolation
        unless the repository and the tag may be written and deleted.
        """
        async with self._db.write() as conn:
            repo = await repository_ref(conn, registry_id, repository)
            if repo is None:
                return False
            removal = await delete_tag(conn, repo, tag, strict=True, context=context)
            return removal is not None
