"""Tags: listing and removal (moving a tag happens with the manifest push)."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, delete, select

from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.repositories import repository_id
from portside.metadata.schema import tags

__all__ = ["TagStore"]

# Built once (every tag name is > "", so an empty `last` starts at the beginning).
_PAGE = (
    select(tags.c.name)
    .where(tags.c.repository_id == bindparam("repository_id"), tags.c.name > bindparam("last"))
    .order_by(tags.c.name)
    .limit(bindparam("limit"))
)


class TagStore:
    """Tag names per repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_names(
        self, registry_id: int, repository: str, last: str | None, limit: int
    ) -> list[str] | None:
        """Tag names in lexical order after `last`; None if the repository does not exist."""
        async with self._db.read() as conn:
            repo_id = await repository_id(conn, registry_id, repository)
            if repo_id is None:
                return None
            params = {"repository_id": repo_id, "last": last or "", "limit": limit}
            return list((await conn.scalars(_PAGE, params)).all())

    @retry_on_conflict
    async def delete(self, registry_id: int, repository: str, tag: str) -> bool:
        """Remove one tag, leaving its manifest; False if there was no such tag."""
        async with self._db.write() as conn:
            repo_id = await repository_id(conn, registry_id, repository)
            if repo_id is None:
                return False
            result = await conn.execute(
                delete(tags).where(and_(tags.c.repository_id == repo_id, tags.c.name == tag))
            )
            return result.rowcount > 0
