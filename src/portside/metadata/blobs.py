"""Blobs and which repositories may read them.

Linking a blob into a repository needs the repository writable; unlinking one needs it
writable and deletable (metadata/locks.py).
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.locks import locked_repository, require
from portside.metadata.repositories import ensure_repository, repository_id
from portside.metadata.schema import blobs, repositories, repository_blobs
from portside.metadata.usage import link_blob, unlink_blob

__all__ = ["BlobStore"]

# The pull path's statement, built once: constructing a SELECT costs more than running it.
_LINKED_SIZE = (
    select(blobs.c.size)
    .select_from(
        repository_blobs.join(
            repositories, repositories.c.id == repository_blobs.c.repository_id
        ).join(blobs, blobs.c.digest == repository_blobs.c.digest)
    )
    .where(
        repositories.c.registry_id == bindparam("registry_id"),
        repositories.c.name == bindparam("repository"),
        repository_blobs.c.digest == bindparam("digest"),
    )
)


class BlobStore:
    """Verified blobs and their per-repository links."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def linked_size(self, registry_id: int, repository: str, digest: str) -> int | None:
        """Size of the blob if `repository` may read it, else None."""
        params = {"registry_id": registry_id, "repository": repository, "digest": digest}
        async with self._db.read() as conn:
            return await conn.scalar(_LINKED_SIZE, params)

    @retry_on_conflict
    async def add(self, registry_id: int, repository: str, digest: str, size: int) -> None:
        """Record a verified blob and link it to `repository` (both idempotent).

        Raises LockViolation if the repository is write-disabled.
        """
        async with self._db.write() as conn:
            repo_id = await _writable(conn, registry_id, repository)
            # Same digest, same bytes, same size: a row another push inserted first is ours too.
            await conn.execute(
                insert_or_ignore(conn, blobs, ("digest",)).values(
                    digest=digest, size=size, created_at=utcnow()
                )
            )
            await link_blob(conn, registry_id, repo_id, digest, size)

    @retry_on_conflict
    async def mount(self, registry_id: int, source: str, target: str, digest: str) -> int | None:
        """Link a blob readable from `source` into `target`; its size, or None if not there.

        Raises LockViolation if `target` is write-disabled.
        """
        async with self._db.write() as conn:
            source_id = await repository_id(conn, registry_id, source)
            if source_id is None:
                return None
            size = await conn.scalar(
                select(blobs.c.size)
                .select_from(
                    repository_blobs.join(blobs, blobs.c.digest == repository_blobs.c.digest)
                )
                .where(
                    and_(
                        repository_blobs.c.repository_id == source_id,
                        repository_blobs.c.digest == digest,
                    )
                )
            )
            if size is None:
                return None
            target_id = await _writable(conn, registry_id, target)
            await link_blob(conn, registry_id, target_id, digest, int(size))
            return int(size)

    @retry_on_conflict
    async def unlink(self, registry_id: int, repository: str, digest: str) -> bool:
        """Remove a blob from a repository; False if it was not linked there.

        The bytes stay until garbage collection finds nothing references them. Raises
        LockViolation unless the repository may be written and deleted from.
        """
        async with self._db.write() as conn:
            locked = await locked_repository(conn, registry_id, repository, shared=True)
            if locked is None:
                return False
            repo_id, flags = locked
            require(flags, "repository", repository, "write", "delete")
            return await unlink_blob(conn, registry_id, repo_id, digest)


async def _writable(conn: AsyncConnection, registry_id: int, repository: str) -> int:
    """The repository's id (created if missing), share-locked and checked writable."""
    repo_id = await ensure_repository(conn, registry_id, repository)
    locked = await locked_repository(conn, registry_id, repository, repo_id=repo_id, shared=True)
    assert locked is not None
    require(locked[1], "repository", repository, "write")
    return repo_id
