"""Repositories and registries: lookup, creation on first push, listing."""

from __future__ import annotations

from sqlalchemy import and_, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.records import RegistryRecord
from portside.metadata.schema import registries, repositories

__all__ = ["RepositoryStore", "ensure_repository"]


class RepositoryStore:
    """Registries and the repositories inside them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure_registry(self, name: str) -> RegistryRecord:
        """Return the registry called `name`, creating it if needed."""
        async with self._db.read() as conn:
            found = await conn.scalar(select(registries.c.id).where(registries.c.name == name))
        if found is not None:
            return RegistryRecord(found, name)
        try:
            async with self._db.write() as conn:
                new_id = await conn.scalar(
                    insert(registries)
                    .values(name=name, created_at=utcnow())
                    .returning(registries.c.id)
                )
        except IntegrityError:  # created concurrently by another process
            async with self._db.read() as conn:
                new_id = await conn.scalar(select(registries.c.id).where(registries.c.name == name))
        assert new_id is not None
        return RegistryRecord(new_id, name)

    async def exists(self, registry_id: int, name: str) -> bool:
        """True if the repository exists in the registry."""
        async with self._db.read() as conn:
            return await repository_id(conn, registry_id, name) is not None

    async def list_names(self, registry_id: int, last: str | None, limit: int) -> list[str]:
        """Repository names in lexical order, after `last`, at most `limit`."""
        query = select(repositories.c.name).where(repositories.c.registry_id == registry_id)
        if last:
            query = query.where(repositories.c.name > last)
        query = query.order_by(repositories.c.name).limit(limit)
        async with self._db.read() as conn:
            return list((await conn.scalars(query)).all())


async def repository_id(conn: AsyncConnection, registry_id: int, name: str) -> int | None:
    """The id of a repository, or None."""
    return await conn.scalar(
        select(repositories.c.id).where(
            and_(repositories.c.registry_id == registry_id, repositories.c.name == name)
        )
    )


async def ensure_repository(conn: AsyncConnection, registry_id: int, name: str) -> int:
    """The id of a repository, created if missing, inside the caller's write transaction."""
    found = await repository_id(conn, registry_id, name)
    if found is not None:
        return found
    now = utcnow()
    # Write transactions are serialised per database on SQLite (BEGIN IMMEDIATE); PostgreSQL
    # callers that race here get an IntegrityError and retry the whole transaction.
    new_id = await conn.scalar(
        insert(repositories)
        .values(registry_id=registry_id, name=name, created_at=now, updated_at=now)
        .returning(repositories.c.id)
    )
    assert new_id is not None
    return int(new_id)
