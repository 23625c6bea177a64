"""The collector's SQL: which blob links and blobs nothing uses any more, and their removal.

docs/gc.md states the protocol and why no live blob can be lost; in short:

- A link (`repository_blobs`) is live while a manifest of its repository references the
  digest, a recycled manifest of the same registry and repository name references it, or it
  was created or touched after the cutoff (now minus the grace period). `unlink_unused`
  removes dead links in a write transaction that first takes the repository's exclusive row
  lock (the lock a manifest push takes before it checks its blobs are linked), then locks the
  link rows, then checks again with a fresh statement.
- A blob row is collectable when no link, no manifest and no recycled manifest references it
  and it was created before the cutoff. `doom` marks them (`doomed_at`); `delete_doomed`
  locks each doomed row, checks again, deletes the bytes through the caller's callback and
  then the row, all in one write transaction. A new link clears `doomed_at`
  (usage.link_blob) and needs the row (foreign key), so it waits for that transaction.

On PostgreSQL the locking statement and the checking statement are separate: a statement
that waited for a row lock still evaluates its subqueries in the snapshot it started with,
while the next statement sees everything committed by the transactions it waited for.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.locks import locked_repository
from portside.metadata.schema import (
    blobs,
    deleted_manifest_blobs,
    deleted_manifests,
    manifest_blobs,
    manifests,
    repositories,
    repository_blobs,
)
from portside.metadata.usage import unlink_blobs

__all__ = ["CollectorStore", "DeadLink", "Forecast", "FreedBlob"]


@dataclass(frozen=True, slots=True)
class DeadLink:
    """A link that looked unused when listed (checked again before it is removed)."""

    registry_id: int
    repository_id: int
    repository: str
    digest: str


@dataclass(frozen=True, slots=True)
class FreedBlob:
    """A blob whose row and bytes were (or would be) deleted."""

    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class Forecast:
    """What a collection with a given cutoff would remove now."""

    links: int
    blobs: int
    bytes: int


def _fresh(created: Any, touched: Any, cutoff: datetime) -> ColumnElement[bool]:
    """Created or touched at or after the cutoff."""
    return func.coalesce(touched, created) >= cutoff


def _referenced_in_repository(
    repository_id: Any, registry_id: Any, name: Any, digest: Any
) -> ColumnElement[bool]:
    """A manifest of the repository, or a recycled one of the same name, references `digest`."""
    in_manifest = exists().where(
        manifest_blobs.c.digest == digest,
        manifests.c.id == manifest_blobs.c.manifest_id,
        manifests.c.repository_id == repository_id,
    )
    in_recycle_bin = exists().where(
        deleted_manifest_blobs.c.digest == digest,
        deleted_manifests.c.id == deleted_manifest_blobs.c.deleted_manifest_id,
        deleted_manifests.c.registry_id == registry_id,
        deleted_manifests.c.repository == name,
    )
    return in_manifest | in_recycle_bin


def _referenced_anywhere(digest: Any) -> ColumnElement[bool]:
    """Any manifest or recycled manifest, in any registry, references `digest`."""
    return exists().where(manifest_blobs.c.digest == digest) | exists().where(
        deleted_manifest_blobs.c.digest == digest
    )


def _collectable(cutoff: datetime) -> ColumnElement[bool]:
    """A blob row nothing links or references, created before the cutoff."""
    return and_(
        blobs.c.created_at < cutoff,
        ~exists().where(repository_blobs.c.digest == blobs.c.digest),
        ~_referenced_anywhere(blobs.c.digest),
    )


def _dead_links(cutoff: datetime) -> Any:
    """SELECT of the links nothing keeps: repository id, digest, registry id, name."""
    return (
        select(
            repository_blobs.c.repository_id,
            repository_blobs.c.digest,
            repositories.c.registry_id,
            repositories.c.name,
        )
        .select_from(
            repository_blobs.join(
                repositories, repositories.c.id == repository_blobs.c.repository_id
            )
        )
        .where(
            ~_fresh(repository_blobs.c.created_at, repository_blobs.c.touched_at, cutoff),
            ~_referenced_in_repository(
                repository_blobs.c.repository_id,
                repositories.c.registry_id,
                repositories.c.name,
                repository_blobs.c.digest,
            ),
        )
    )


class CollectorStore:
    """Finds and removes unused blob links and blobs, re-checking under the right locks."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def writers_poll(self) -> bool:
        """Whether a writer waiting for the database polls for its turn (SQLite) rather than
        queueing on row locks (PostgreSQL): the collector then leaves gaps between its
        transactions."""
        return self._db.is_sqlite

    async def forecast(self, cutoff: datetime) -> Forecast:
        """How many links and blobs (and bytes) a collection would remove now (a dry run).

        A blob goes when nothing references it anywhere, it is older than the cutoff and every
        link to it is dead (a link is dead when unreferenced and stale, and a blob that no
        manifest references has only unreferenced links).
        """
        live_link = exists().where(
            repository_blobs.c.digest == blobs.c.digest,
            _fresh(repository_blobs.c.created_at, repository_blobs.c.touched_at, cutoff),
        )
        doomed = select(func.count(), func.coalesce(func.sum(blobs.c.size), 0)).where(
            blobs.c.created_at < cutoff, ~_referenced_anywhere(blobs.c.digest), ~live_link
        )
        async with self._db.read() as conn:
            links = await conn.scalar(
                select(func.count()).select_from(_dead_links(cutoff).subquery())
            )
            count, size = (await conn.execute(doomed)).one()
        return Forecast(int(links or 0), int(count), int(size))

    async def dead_links(
        self, cutoff: datetime, after: tuple[int, str] | None, limit: int
    ) -> list[DeadLink]:
        """Up to `limit` links that look dead, in (repository id, digest) order after `after`."""
        query = _dead_links(cutoff)
        if after is not None:
            query = query.where(
                tuple_(repository_blobs.c.repository_id, repository_blobs.c.digest) > tuple_(*after)
            )
        query = query.order_by(repository_blobs.c.repository_id, repository_blobs.c.digest).limit(
            limit
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [DeadLink(row.registry_id, row.repository_id, row.name, row.digest) for row in rows]

    @retry_on_conflict
    async def unlink_unused(
        self,
        registry_id: int,
        repository_id: int,
        name: str,
        digests: Sequence[str],
        cutoff: datetime,
    ) -> list[str]:
        """Remove those of the repository's links to `digests` that are still dead; which went.

        Takes the repository's exclusive row lock first, as a manifest push does, so a push
        either committed its references before this check or finds the link gone in its own.
        However many digests, the transaction runs the same few statements: the re-check and
        the removal are set-based (usage.unlink_blobs).
        """
        async with self._db.write(bulk=True) as conn:
            if await locked_repository(conn, registry_id, name, repo_id=repository_id) is None:
                return []
            where = and_(
                repository_blobs.c.repository_id == repository_id,
                repository_blobs.c.digest.in_(list(digests)),
            )
            if not self._db.is_sqlite:
                # Wait for touches in flight; the check below then sees them.
                await conn.execute(
                    select(repository_blobs.c.digest)
                    .where(where)
                    .order_by(repository_blobs.c.digest)
                    .with_for_update()
                )
            dead = await conn.execute(
                select(repository_blobs.c.digest, blobs.c.size)
                .join(blobs, blobs.c.digest == repository_blobs.c.digest)
                .where(
                    where,
                    ~_fresh(repository_blobs.c.created_at, repository_blobs.c.touched_at, cutoff),
                    ~_referenced_in_repository(
                        repository_id, registry_id, name, repository_blobs.c.digest
                    ),
                )
            )
            sizes = {row.digest: int(row.size) for row in dead}
            return sorted(await unlink_blobs(conn, registry_id, repository_id, sizes))

    @retry_on_conflict
    async def doom(self, cutoff: datetime) -> int:
        """Phase A: mark every collectable blob (one transaction); how many were marked."""
        async with self._db.write(bulk=True) as conn:
            result = await conn.execute(
                update(blobs)
                .where(blobs.c.doomed_at.is_(None), _collectable(cutoff))
                .values(doomed_at=utcnow())
            )
        return int(result.rowcount)

    async def count_doomed(self) -> int:
        """How many blobs are marked for deletion."""
        async with self._db.read() as conn:
            found = await conn.scalar(
                select(func.count()).select_from(blobs).where(blobs.c.doomed_at.is_not(None))
            )
        return int(found or 0)

    async def doomed(self, after: str | None, limit: int) -> list[str]:
        """Up to `limit` digests of doomed blobs, in digest order after `after`."""
        query = select(blobs.c.digest).where(blobs.c.doomed_at.is_not(None))
        if after is not None:
            query = query.where(blobs.c.digest > after)
        async with self._db.read() as conn:
            return list((await conn.scalars(query.order_by(blobs.c.digest).limit(limit))).all())

    @retry_on_conflict
    async def delete_doomed(
        self,
        digests: Sequence[str],
        cutoff: datetime,
        delete_bytes: Callable[[list[str]], Coroutine[Any, Any, None]],
    ) -> list[FreedBlob]:
        """Phase B for some doomed blobs: lock their rows, keep those still doomed and
        collectable, delete their bytes (`delete_bytes(digests)`, all in one call), then
        their rows; the others are no longer doomed. Returns what was deleted."""
        async with self._db.write(bulk=True) as conn:
            where = blobs.c.digest.in_(list(digests))
            if not self._db.is_sqlite:
                await _lock_rows(conn, where)
            freed = [
                FreedBlob(row.digest, int(row.size))
                for row in await conn.execute(
                    select(blobs.c.digest, blobs.c.size)
                    .where(where, blobs.c.doomed_at.is_not(None), _collectable(cutoff))
                    .order_by(blobs.c.digest)
                )
            ]
            gone = [blob.digest for blob in freed]
            if len(gone) < len(digests):  # usually none is left to revive
                await conn.execute(
                    update(blobs)
                    .where(where, blobs.c.digest.not_in(gone), blobs.c.doomed_at.is_not(None))
                    .values(doomed_at=None)
                )
            # Bytes first, then the row: a failure in between leaves a doomed row without
            # bytes, which the next run deletes and an upload of the digest refills. The
            # deletion is awaited whole (the driver's `delete_many` returns only once every
            # key was tried): none may land after this transaction has let go of the row
            # locks.
            if gone:
                await delete_bytes(gone)
                await conn.execute(delete(blobs).where(blobs.c.digest.in_(gone)))
            return freed


async def _lock_rows(conn: AsyncConnection, where: ColumnElement[bool]) -> None:
    """Lock the blob rows (PostgreSQL only: SQLite's BEGIN IMMEDIATE already serialises
    writers, and it would run the statement for nothing)."""
    await conn.execute(
        select(blobs.c.digest).where(where).order_by(blobs.c.digest).with_for_update()
    )
