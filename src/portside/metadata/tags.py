"""Tags: listing and removal (moving a tag happens with the manifest push).

List-disabled tags are left out of the list; removal checks the lock flags (metadata/locks.py).
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, delete, select

from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.locks import flags_of, lock_columns, locked_repository, require
from portside.metadata.repositories import bump_tags_version
from portside.metadata.schema import repositories, tags

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
    async def delete(self, registry_id: int, repository: str, tag: str) -> bool:
        """Remove one tag, leaving its manifest; False if there was no such tag.

        Raises LockViolation unless the repository and the tag may be written and deleted.
        """
        async with self._db.write() as conn:
            locked = await locked_repository(conn, registry_id, repository)
            if locked is None:
                return False
            repo_id, repo_flags = locked
            where = and_(tags.c.repository_id == repo_id, tags.c.name == tag)
            row = (await conn.execute(select(*lock_columns(tags)).where(where))).first()
            if row is None:
                return False
            require(repo_flags, "repository", repository, "write", "delete")
            require(flags_of(row), "tag", tag, "write", "delete")
            await conn.execute(delete(tags).where(where))
            await bump_tags_version(conn, repo_id)
            return True
