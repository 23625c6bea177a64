"""Blobs and which repositories may read them.

Linking a blob into a repository needs the repository writable; unlinking one needs it
writable and deletable (metadata/locks.py). A link in use is touched (`touched_at`) so that
the collector leaves it alone for a grace period (docs/gc.md); recording a blob locks its row
and commits its bytes inside the same transaction, ordered against the collector deleting it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.columns import UTCDateTime
from portside.metadata.conflicts import IgnoringInserts, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.locks import locked_repository, require, writable_repository
from portside.metadata.repositories import repository_id
from portside.metadata.schema import blobs, repositories, repository_blobs, uploads
from portside.metadata.usage import link_blob, unlink_blob

__all__ = ["BlobLink", "BlobStore", "mount_link"]

# The pull path's statements, built once: constructing a SELECT costs more than running it.
_LINK = (
    select(blobs.c.size, repository_blobs.c.touched_at)
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
_TOUCH = (
    update(repository_blobs)
    .where(
        repository_blobs.c.repository_id
        == select(repositories.c.id)
        .where(
            repositories.c.registry_id == bindparam("t_registry_id"),
            repositories.c.name == bindparam("t_repository"),
        )
        .scalar_subquery(),
        repository_blobs.c.digest == bindparam("t_digest"),
    )
    .values(touched_at=bindparam("t_now", type_=UTCDateTime))
)

# A push's statements, likewise.
_NEW_BLOB = IgnoringInserts(blobs, ("digest",))
_LOCK_BLOB = select(blobs.c.digest).where(blobs.c.digest == bindparam("b_digest")).with_for_update()
_FORGET_UPLOAD = delete(uploads).where(uploads.c.id == bindparam("u_id"))


@dataclass(frozen=True, slots=True)
class BlobLink:
    """A blob a repository may read: its size and when its link was last used (None: never
    since it was made by an older version)."""

    size: int
    touched_at: datetime | None


class BlobStore:
    """Verified blobs and their per-repository links."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def linked_size(self, registry_id: int, repository: str, digest: str) -> int | None:
        """Size of the blob if `repository` may read it, else None."""
        link = await self.link(registry_id, repository, digest)
        return None if link is None else link.size

    async def link(self, registry_id: int, repository: str, digest: str) -> BlobLink | None:
        """The blob's size and its link's last use, if `repository` may read it, else None."""
        params = {"registry_id": registry_id, "repository": repository, "digest": digest}
        # A link to a digest is content, asked of a lagging replica first (a miss there is
        # asked of the primary); its last use may lag, which only delays a touch.
        lag_safe = self._db.has_replica
        async with self._db.read(lag_safe=lag_safe) as conn:
            row = (await conn.execute(_LINK, params)).first()
        if row is None and lag_safe:
            async with self._db.read() as conn:
                row = (await conn.execute(_LINK, params)).first()
        return None if row is None else BlobLink(int(row[0]), row[1])

    @retry_on_conflict
    async def touch(self, registry_id: int, repository: str, digest: str) -> bool:
        """Mark the link as used now; False if there is no such link (any more)."""
        params = {
            "t_registry_id": registry_id,
            "t_repository": repository,
            "t_digest": digest,
            "t_now": utcnow(),
        }
        async with self._db.write() as conn:
            result = await conn.execute(_TOUCH, params)
        return result.rowcount > 0

    @retry_on_conflict
    async def add(
        self,
        registry_id: int,
        repository: str,
        digest: str,
        size: int,
        *,
        commit: Callable[[], Awaitable[None]] | None = None,
        upload_id: str | None = None,
    ) -> None:
        """Record a verified blob and link it to `repository` (both idempotent).

        `commit` puts the blob's bytes in place; it runs last in the transaction, once the
        blob's row is locked (so the collector cannot be deleting the same digest) and the
        link has passed the storage quota (so a refused push commits no bytes). It may run
        again if the transaction is retried. `upload_id` names the upload session the blob
        came from, forgotten in the same transaction (on SQLite every write transaction is
        a turn at the one write lock: a push should not take two). Raises LockViolation if
        the repository is write-disabled, QuotaViolation if the blob does not fit.
        """
        async with self._db.write() as conn:
            repo_id = await _writable(conn, registry_id, repository)
            new = await _lock_blob(conn, digest, size)
            if not await link_blob(conn, registry_id, repo_id, digest, size, revive=not new):
                await _touch_link(conn, repo_id, digest)
            if upload_id is not None:
                await conn.execute(_FORGET_UPLOAD, {"u_id": upload_id})
            if commit is not None:
                await commit()

    @retry_on_conflict
    async def mount(self, registry_id: int, source: str, target: str, digest: str) -> int | None:
        """Link a blob readable from `source` into `target`; its size, or None if not there.

        Raises LockViolation if `target` is write-disabled.
        """
        async with self._db.write() as conn:
            return await mount_link(conn, registry_id, source, registry_id, target, digest)

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


async def mount_link(
    conn: AsyncConnection,
    source_registry_id: int,
    source: str,
    registry_id: int,
    target: str,
    digest: str,
    *,
    lock_source: bool = False,
) -> int | None:
    """Inside `conn`'s transaction, link a blob `source` links into `target`; its size, or
    None if the source does not link it.

    `lock_source` share-locks the source link until commit, for a caller (an import across
    registries) that must keep the source from being unlinked meanwhile. Raises
    LockViolation if `target` is write-disabled, QuotaViolation if it does not fit.
    """
    source_id = await repository_id(conn, source_registry_id, source)
    if source_id is None:
        return None
    query = (
        select(blobs.c.size)
        .select_from(repository_blobs.join(blobs, blobs.c.digest == repository_blobs.c.digest))
        .where(
            and_(
                repository_blobs.c.repository_id == source_id,
                repository_blobs.c.digest == digest,
            )
        )
    )
    size = await conn.scalar(query.with_for_update(read=True) if lock_source else query)
    if size is None:
        return None
    target_id = await _writable(conn, registry_id, target)
    if not await link_blob(conn, registry_id, target_id, digest, int(size)):
        await _touch_link(conn, target_id, digest)
    return int(size)


async def _writable(conn: AsyncConnection, registry_id: int, repository: str) -> int:
    """The repository's id (created if missing), share-locked and checked writable."""
    return await writable_repository(conn, registry_id, repository, shared=True)


async def _lock_blob(conn: AsyncConnection, digest: str, size: int) -> bool:
    """Insert the blob's row if missing and lock it for the rest of the transaction; True if
    this transaction inserted it (so the collector has not doomed it).

    A row just inserted is locked by its insert. Same digest, same bytes, same size: a row
    another push inserted first is ours too, locked by a SELECT. On PostgreSQL that row may
    vanish between the insert and the lock (the collector deleting a doomed blob commits in
    between); then it is inserted again.
    """
    for _ in range(3):
        inserted = await conn.execute(
            _NEW_BLOB.on(conn), {"digest": digest, "size": size, "created_at": utcnow()}
        )
        if inserted.rowcount:
            return True
        if await conn.scalar(_LOCK_BLOB, {"b_digest": digest}) is not None:
            return False
    raise RuntimeError(f"blob row {digest} kept vanishing while being recorded")


async def _touch_link(conn: AsyncConnection, repo_id: int, digest: str) -> None:
    """An existing link used again (upload, mount): the collector leaves it alone longer."""
    await conn.execute(
        update(repository_blobs)
        .where(repository_blobs.c.repository_id == repo_id, repository_blobs.c.digest == digest)
        .values(touched_at=utcnow())
    )
