"""The recycle bin: soft-deleted manifests and tags, written by deletions, listed, expired.

Under a registry's `soft_delete_days`, a deleted manifest is copied here (`deleted_manifests`:
its body and attributes, the tags that named it as a JSON list) with the digests of the blobs
it references (`deleted_manifest_blobs`: the garbage collector keeps them while the entry
lives), and a tag deleted alone is recorded in `deleted_tags`. Entries expire `expires_at`;
`RecycleBinStore.expire` removes expired ones (metadata/restore.py brings entries back).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.retention import read_policy
from portside.metadata.schema import (
    deleted_manifest_blobs,
    deleted_manifests,
    deleted_tags,
    manifest_blobs,
    manifests,
    repositories,
    tags,
)

__all__ = [
    "DeletedManifest",
    "DeletedRepository",
    "DeletedTag",
    "RecycleBinStore",
    "record_deleted_tag",
    "recycle",
    "recycle_repository",
]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class DeletedManifest:
    """A manifest in the recycle bin."""

    repository: str
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    subject: str | None
    tags: tuple[str, ...]
    created_at: datetime
    deleted_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class DeletedTag:
    """A tag deleted alone (its manifest stayed, or is in the bin too)."""

    repository: str
    name: str
    digest: str
    deleted_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class DeletedRepository:
    """A repository with manifests in the recycle bin; `live` if it exists (again)."""

    name: str
    manifests: int
    last_deleted_at: datetime
    expires_at: datetime
    live: bool


async def record_deleted_tag(
    conn: AsyncConnection,
    registry_id: int,
    repository: str,
    tag: str,
    digest: str,
    now: datetime,
    days: int,
) -> None:
    """Record a tag deleted alone, restorable for `days` days."""
    await conn.execute(
        insert(deleted_tags).values(
            registry_id=registry_id,
            repository=repository,
            name=tag,
            digest=digest,
            deleted_at=now,
            expires_at=now + timedelta(days=days),
        )
    )


async def recycle_repository(
    conn: AsyncConnection, registry_id: int, repo_id: int, name: str
) -> int:
    """Under soft delete, copy every manifest of a repository about to be deleted into the
    recycle bin; the number copied (0 when soft delete is off)."""
    policy = await read_policy(conn, registry_id)
    if not policy.soft_delete_days:
        return 0
    ids = list(
        (
            await conn.scalars(
                select(manifests.c.id)
                .where(manifests.c.repository_id == repo_id)
                .order_by(manifests.c.id)
            )
        ).all()
    )
    await recycle(conn, registry_id, name, ids, utcnow(), policy.soft_delete_days)
    return len(ids)


async def recycle(
    conn: AsyncConnection,
    registry_id: int,
    repository: str,
    ids: Sequence[int],
    now: datetime,
    days: int,
) -> None:
    """Copy manifests (with their tag names and blob digests) into the recycle bin, before
    the caller deletes their rows."""
    expires = now + timedelta(days=days)
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        names: dict[int, list[str]] = {}
        for manifest_id, name in (
            await conn.execute(
                select(tags.c.manifest_id, tags.c.name)
                .where(tags.c.manifest_id.in_(chunk))
                .order_by(tags.c.name)
            )
        ).all():
            names.setdefault(int(manifest_id), []).append(name)
        blob_digests: dict[int, list[str]] = {}
        for manifest_id, digest in (
            await conn.execute(
                select(manifest_blobs.c.manifest_id, manifest_blobs.c.digest).where(
                    manifest_blobs.c.manifest_id.in_(chunk)
                )
            )
        ).all():
            blob_digests.setdefault(int(manifest_id), []).append(digest)
        rows = await conn.execute(
            select(
                manifests.c.id,
                manifests.c.digest,
                manifests.c.media_type,
                manifests.c.artifact_type,
                manifests.c.size,
                manifests.c.body,
                manifests.c.subject_digest,
                manifests.c.annotations,
                manifests.c.created_at,
            )
            .where(manifests.c.id.in_(chunk))
            .order_by(manifests.c.id)
        )
        for row in rows.all():
            entry_id = await conn.scalar(
                insert(deleted_manifests)
                .values(
                    registry_id=registry_id,
                    repository=repository,
                    digest=row.digest,
                    media_type=row.media_type,
                    artifact_type=row.artifact_type,
                    size=row.size,
                    body=row.body,
                    subject_digest=row.subject_digest,
                    annotations=row.annotations,
                    created_at=row.created_at,
                    tags=json.dumps(names.get(row.id, [])),
                    deleted_at=now,
                    expires_at=expires,
                )
                .returning(deleted_manifests.c.id)
            )
            digests = blob_digests.get(row.id, [])
            if digests:
                await conn.execute(
                    insert(deleted_manifest_blobs),
                    [{"deleted_manifest_id": entry_id, "digest": d} for d in digests],
                )


def _deleted_manifest(row: Any) -> DeletedManifest:
    return DeletedManifest(
        repository=row.repository,
        digest=row.digest,
        media_type=row.media_type,
        artifact_type=row.artifact_type,
        size=int(row.size),
        subject=row.subject_digest,
        tags=tuple(json.loads(row.tags or "[]")),
        created_at=row.created_at,
        deleted_at=row.deleted_at,
        expires_at=row.expires_at,
    )


class RecycleBinStore:
    """Lists and expires what the recycle bin holds."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def repositories(
        self, registry_id: int, *, include_live: bool = False
    ) -> list[DeletedRepository]:
        """Repositories with manifests in the bin, by name: only those that no longer exist,
        unless `include_live`."""
        query = (
            select(
                deleted_manifests.c.repository,
                func.count(),
                func.max(deleted_manifests.c.deleted_at),
                func.max(deleted_manifests.c.expires_at),
            )
            .where(deleted_manifests.c.registry_id == registry_id)
            .group_by(deleted_manifests.c.repository)
            .order_by(deleted_manifests.c.repository)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
            live = set(
                (
                    await conn.scalars(
                        select(repositories.c.name).where(
                            repositories.c.registry_id == registry_id,
                            repositories.c.name.in_([row[0] for row in rows]),
                        )
                    )
                ).all()
            )
        return [
            DeletedRepository(name, int(count), last, expires, name in live)
            for name, count, last, expires in rows
            if include_live or name not in live
        ]

    async def manifests(self, registry_id: int, repository: str) -> list[DeletedManifest]:
        """The repository's manifests in the bin, most recently deleted first."""
        query = (
            select(deleted_manifests)
            .where(
                deleted_manifests.c.registry_id == registry_id,
                deleted_manifests.c.repository == repository,
            )
            .order_by(deleted_manifests.c.deleted_at.desc(), deleted_manifests.c.id.desc())
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_deleted_manifest(row) for row in rows]

    async def tags(self, registry_id: int, repository: str) -> list[DeletedTag]:
        """The repository's tags deleted alone, most recently deleted first."""
        query = (
            select(
                deleted_tags.c.repository,
                deleted_tags.c.name,
                deleted_tags.c.digest,
                deleted_tags.c.deleted_at,
                deleted_tags.c.expires_at,
            )
            .where(
                deleted_tags.c.registry_id == registry_id,
                deleted_tags.c.repository == repository,
            )
            .order_by(deleted_tags.c.deleted_at.desc(), deleted_tags.c.id.desc())
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [DeletedTag(*row) for row in rows]

    @retry_on_conflict
    async def expire(self, now: datetime | None = None) -> tuple[int, int]:
        """Remove expired entries everywhere, and deleted tags whose manifest is neither in
        its repository nor in the bin; (manifests, tags) removed."""
        now = now or utcnow()
        live = (
            select(manifests.c.id)
            .join(repositories, repositories.c.id == manifests.c.repository_id)
            .where(
                repositories.c.registry_id == deleted_tags.c.registry_id,
                repositories.c.name == deleted_tags.c.repository,
                manifests.c.digest == deleted_tags.c.digest,
            )
            .exists()
        )
        binned = (
            select(deleted_manifests.c.id)
            .where(
                and_(
                    deleted_manifests.c.registry_id == deleted_tags.c.registry_id,
                    deleted_manifests.c.repository == deleted_tags.c.repository,
                    deleted_manifests.c.digest == deleted_tags.c.digest,
                )
            )
            .exists()
        )
        async with self._db.write() as conn:
            gone = await conn.execute(
                delete(deleted_manifests).where(deleted_manifests.c.expires_at <= now)
            )
            expired = await conn.execute(
                delete(deleted_tags).where(deleted_tags.c.expires_at <= now)
            )
            stranded = await conn.execute(delete(deleted_tags).where(~live, ~binned))
        return gone.rowcount, expired.rowcount + stranded.rowcount
