"""Replications of registries, and which location's storage holds which blob.

`blob_locations` is written by the replication worker and by status checks, never on the push
path: a missing row means "not confirmed yet" (docs/geo-replication.md).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.schema import (
    blob_locations,
    blobs,
    manifest_blobs,
    manifest_children,
    manifests,
    replications,
    repositories,
    tags,
)

__all__ = [
    "BacklogSummary",
    "BlobPresence",
    "PendingBlob",
    "ReplicationRecord",
    "ReplicationStore",
]

PRESENT = "present"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ReplicationRecord:
    """A location a registry is replicated to."""

    location: str
    region_endpoint_enabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PendingBlob:
    """A blob a location still lacks: its digest and size."""

    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class BlobPresence:
    """What `blob_locations` says of one blob in one location (state None: no row)."""

    digest: str
    size: int
    state: str | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class BacklogSummary:
    """A location's backlog for a registry: blobs and bytes not confirmed, and failing."""

    location: str
    blobs: int
    bytes: int
    failing: int
    last_error: str | None


def _record(row: Any) -> ReplicationRecord:
    return ReplicationRecord(row.location, bool(row.region_endpoint_enabled), row.created_at)


def _referenced(location: str) -> Any:
    """Digests referenced by manifests of registries replicated to `location`, with sizes."""
    return (
        select(manifest_blobs.c.digest)
        .join(manifests, manifests.c.id == manifest_blobs.c.manifest_id)
        .join(repositories, repositories.c.id == manifests.c.repository_id)
        .join(
            replications,
            and_(
                replications.c.registry_id == repositories.c.registry_id,
                replications.c.location == location,
            ),
        )
        .distinct()
        .subquery()
    )


class ReplicationStore:
    """Replications and blob presence per location."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, registry_id: int) -> builtins.list[ReplicationRecord]:
        """The registry's replications, by location."""
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(replications)
                .where(replications.c.registry_id == registry_id)
                .order_by(replications.c.location)
            )
            return [_record(row) for row in rows]

    async def get(self, registry_id: int, location: str) -> ReplicationRecord | None:
        """One replication, or None."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(replications).where(
                        replications.c.registry_id == registry_id,
                        replications.c.location == location,
                    )
                )
            ).first()
        return None if row is None else _record(row)

    @retry_on_conflict
    async def create(
        self, registry_id: int, location: str, region_endpoint_enabled: bool
    ) -> ReplicationRecord | None:
        """Add a replication; None if the registry is replicated there already."""
        now = utcnow()
        async with self._db.write() as conn:
            inserted = await conn.execute(
                insert_or_ignore(conn, replications, ("registry_id", "location")).values(
                    registry_id=registry_id,
                    location=location,
                    region_endpoint_enabled=region_endpoint_enabled,
                    created_at=now,
                )
            )
        if not inserted.rowcount:
            return None
        return ReplicationRecord(location, region_endpoint_enabled, now)

    @retry_on_conflict
    async def update(
        self, registry_id: int, location: str, region_endpoint_enabled: bool
    ) -> ReplicationRecord | None:
        """Change the routing flag; None if there is no such replication."""
        async with self._db.write() as conn:
            changed = await conn.execute(
                update(replications)
                .where(
                    replications.c.registry_id == registry_id,
                    replications.c.location == location,
                )
                .values(region_endpoint_enabled=region_endpoint_enabled)
            )
        if not changed.rowcount:
            return None
        return await self.get(registry_id, location)

    @retry_on_conflict
    async def delete(self, registry_id: int, location: str) -> bool:
        """Remove a replication (the bytes stay until collected); False if absent."""
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(replications).where(
                    replications.c.registry_id == registry_id,
                    replications.c.location == location,
                )
            )
        return result.rowcount > 0

    async def backlog(self, location: str, limit: int) -> builtins.list[PendingBlob]:
        """Blobs `location` lacks and may be tried now: referenced by a manifest of a registry
        replicated there, not present, not waiting for a retry."""
        referenced = _referenced(location)
        here = blob_locations.alias("here")
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(blobs.c.digest, blobs.c.size)
                .join(referenced, referenced.c.digest == blobs.c.digest)
                .outerjoin(here, and_(here.c.digest == blobs.c.digest, here.c.location == location))
                .where(
                    or_(
                        here.c.digest.is_(None),
                        and_(here.c.state != PRESENT, here.c.next_attempt_at <= utcnow()),
                    )
                )
                .order_by(blobs.c.digest)
                .limit(limit)
            )
            return [PendingBlob(row.digest, int(row.size)) for row in rows]

    async def summary(self, registry_id: int, location: str) -> BacklogSummary:
        """The registry's blobs `location` has not confirmed, in number and bytes."""
        referenced = (
            select(manifest_blobs.c.digest)
            .join(manifests, manifests.c.id == manifest_blobs.c.manifest_id)
            .join(repositories, repositories.c.id == manifests.c.repository_id)
            .where(repositories.c.registry_id == registry_id)
            .distinct()
            .subquery()
        )
        here = blob_locations.alias("here")
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(
                        func.count(),
                        func.coalesce(func.sum(blobs.c.size), 0),
                        func.count(here.c.digest),
                        func.max(here.c.last_error),
                    )
                    .select_from(blobs)
                    .join(referenced, referenced.c.digest == blobs.c.digest)
                    .outerjoin(
                        here, and_(here.c.digest == blobs.c.digest, here.c.location == location)
                    )
                    .where(or_(here.c.digest.is_(None), here.c.state != PRESENT))
                )
            ).one()
        return BacklogSummary(location, int(row[0]), int(row[1]), int(row[2]), row[3])

    async def presence(
        self, digests: Sequence[str], locations: Sequence[str]
    ) -> builtins.list[tuple[str, BlobPresence]]:
        """For each location and blob: the blob's size and its row's state there."""
        async with self._db.read() as conn:
            sizes = {
                row.digest: int(row.size)
                for row in await conn.execute(
                    select(blobs.c.digest, blobs.c.size).where(blobs.c.digest.in_(list(digests)))
                )
            }
            rows = await conn.execute(
                select(blob_locations).where(
                    blob_locations.c.digest.in_(list(digests)),
                    blob_locations.c.location.in_(list(locations)),
                )
            )
            found = {(row.location, row.digest): row for row in rows}
        answer = []
        for location in locations:
            for digest, size in sizes.items():
                row = found.get((location, digest))
                state = None if row is None else str(row.state)
                error = None if row is None else row.last_error
                answer.append((location, BlobPresence(digest, size, state, error)))
        return answer

    @retry_on_conflict
    async def confirm(self, digest: str, location: str, size: int) -> None:
        """Record that `location` holds the blob's bytes (nothing if the blob row is gone)."""
        await self._set(digest, location, PRESENT, size=size, error=None, retry_at=None)

    @retry_on_conflict
    async def failed(self, digest: str, location: str, error: str, retry_at: datetime) -> int:
        """Record a failed copy into `location` and when to try again; the attempts so far."""
        return await self._set(digest, location, FAILED, size=0, error=error, retry_at=retry_at)

    async def attempts(self, digest: str, location: str) -> int:
        """How many copies of the blob into `location` failed in a row."""
        async with self._db.read() as conn:
            value = await conn.scalar(
                select(blob_locations.c.attempts).where(
                    blob_locations.c.digest == digest, blob_locations.c.location == location
                )
            )
        return int(value or 0)

    async def _set(
        self,
        digest: str,
        location: str,
        state: str,
        *,
        size: int,
        error: str | None,
        retry_at: datetime | None,
    ) -> int:
        now = utcnow()
        async with self._db.write() as conn:
            where = and_(blob_locations.c.digest == digest, blob_locations.c.location == location)
            attempts = 0 if state == PRESENT else 1
            changed = await conn.execute(
                update(blob_locations)
                .where(where)
                .values(
                    state=state,
                    bytes=size,
                    attempts=0 if state == PRESENT else blob_locations.c.attempts + 1,
                    next_attempt_at=retry_at,
                    last_error=error,
                    updated_at=now,
                )
            )
            if not changed.rowcount:
                await _insert_if_blob(conn, digest, location, state, size, error, retry_at, now)
            else:
                attempts = int(
                    await conn.scalar(select(blob_locations.c.attempts).where(where)) or 0
                )
        return attempts

    async def image_blobs(
        self, registry_id: int, repository: str, reference: str
    ) -> builtins.list[str] | None:
        """The blob digests of a manifest (by tag or digest) and of its children; None if the
        repository or manifest does not exist."""
        async with self._db.read() as conn:
            repo_id = await conn.scalar(
                select(repositories.c.id).where(
                    repositories.c.registry_id == registry_id, repositories.c.name == repository
                )
            )
            if repo_id is None:
                return None
            if ":" in reference:
                where = manifests.c.digest == reference
                manifest_id = await conn.scalar(
                    select(manifests.c.id).where(manifests.c.repository_id == repo_id, where)
                )
            else:
                manifest_id = await conn.scalar(
                    select(tags.c.manifest_id).where(
                        tags.c.repository_id == repo_id, tags.c.name == reference
                    )
                )
            if manifest_id is None:
                return None
            children = select(manifests.c.id).where(
                manifests.c.repository_id == repo_id,
                manifests.c.digest.in_(
                    select(manifest_children.c.child_digest).where(
                        manifest_children.c.manifest_id == manifest_id
                    )
                ),
            )
            rows = await conn.execute(
                select(manifest_blobs.c.digest)
                .where(
                    or_(
                        manifest_blobs.c.manifest_id == manifest_id,
                        manifest_blobs.c.manifest_id.in_(children),
                    )
                )
                .distinct()
                .order_by(manifest_blobs.c.digest)
            )
            return [str(row.digest) for row in rows]


async def _insert_if_blob(
    conn: AsyncConnection,
    digest: str,
    location: str,
    state: str,
    size: int,
    error: str | None,
    retry_at: datetime | None,
    now: datetime,
) -> None:
    """Insert the row only while the blob row exists (the collector may have just removed it)."""
    source = select(
        blobs.c.digest,
        literal(location),
        literal(state),
        literal(size),
        literal(0 if state == PRESENT else 1),
        literal(retry_at, blob_locations.c.next_attempt_at.type),
        literal(error, blob_locations.c.last_error.type),
        literal(now, blob_locations.c.updated_at.type),
    ).where(blobs.c.digest == digest)
    columns = [
        "digest",
        "location",
        "state",
        "bytes",
        "attempts",
        "next_attempt_at",
        "last_error",
        "updated_at",
    ]
    await conn.execute(
        insert_or_ignore(conn, blob_locations, ("digest", "location")).from_select(columns, source)
    )
