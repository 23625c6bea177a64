"""Bringing manifests and tags back from the recycle bin, in one transaction.

Restoring a digest of a repository takes its newest bin entry, creates the repository again
if it was deleted, and inserts the manifest with its references; every blob it references is
linked again through `usage.link_blob` (the storage counters stay exact; the blob rows are
still there because the garbage collector keeps the blobs of unexpired entries). What was
deleted with it comes back too: the children an index needs (from the bin when they are not
in the repository) and the referrers deleted in the same transaction. Then its tags are
applied where they are free; a tag that names another manifest meanwhile is left alone and
reported. A digest that is in the repository already only gets its deleted tags back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.deletion import mark_tagged
from portside.metadata.errors import RestoreBlocked
from portside.metadata.locks import locked_repository, require
from portside.metadata.repositories import bump_tags_version, ensure_repository, repository_id
from portside.metadata.schema import (
    blobs,
    deleted_manifest_blobs,
    deleted_manifests,
    deleted_tags,
    manifest_blobs,
    manifest_children,
    manifests,
    tags,
)
from portside.metadata.usage import link_blob
from portside.oci.errors import OciValueError
from portside.oci.manifests import parse_manifest

__all__ = ["RestoreStore", "Restored", "TagConflict"]


@dataclass(frozen=True, slots=True)
class TagConflict:
    """A tag that was not applied: it names another manifest now (`taken_by`)."""

    tag: str
    digest: str
    taken_by: str


@dataclass(frozen=True, slots=True)
class Restored:
    """What a restore did: the manifests brought back from the bin (the one asked for first;
    none if it was in the repository already), the tags that name it now, the conflicts."""

    digest: str
    manifests: tuple[str, ...]
    tags: tuple[str, ...]
    conflicts: tuple[TagConflict, ...]


class RestoreStore:
    """Restores recycle-bin entries."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @retry_on_conflict
    async def restore(
        self, registry_id: int, repository: str, digest: str, tag_names: Sequence[str] | None
    ) -> Restored | None:
        """Restore `digest` of `repository` with `tag_names` (default: the tags it had and
        those deleted from it); None if it is neither in the bin nor in the repository.

        Raises RestoreBlocked if something it needs is gone, LockViolation if the repository
        is write-disabled, QuotaViolation if relinking its blobs would exceed the quota.
        """
        async with self._db.write() as conn:
            entry = await _newest(conn, registry_id, repository, digest)
            repo_id = await repository_id(conn, registry_id, repository)
            live_id = None if repo_id is None else await _live(conn, repo_id, digest)
            if entry is None and live_id is None:
                return None
            if repo_id is None:
                repo_id = await ensure_repository(conn, registry_id, repository)
            locked = await locked_repository(conn, registry_id, repository, repo_id=repo_id)
            assert locked is not None
            require(locked[1], "repository", repository, "write")
            now = utcnow()
            brought: list[str] = []
            conflicts: list[TagConflict] = []
            if live_id is None:
                assert entry is not None
                for member in await _group(conn, registry_id, repository, repo_id, entry):
                    member_id = await _reinsert(conn, registry_id, repo_id, member, now)
                    brought.append(member.digest)
                    if member.id == entry.id:
                        live_id = member_id
                    else:
                        done, clashes = await _apply(conn, repo_id, member_id, member.tags)
                        conflicts += clashes
                        await _forget_tags(conn, registry_id, repository, member.digest, done)
            elif entry is not None:
                await conn.execute(
                    delete(deleted_manifests).where(deleted_manifests.c.id == entry.id)
                )
            assert live_id is not None
            if tag_names is None:
                names = list(entry.tags if entry is not None else ())
                names += await _deleted_tag_names(conn, registry_id, repository, digest)
            else:
                names = list(tag_names)
            applied, clashes = await _apply(conn, repo_id, live_id, names)
            await _forget_tags(conn, registry_id, repository, digest, applied)
            return Restored(digest, tuple(brought), tuple(applied), (*clashes, *conflicts))


@dataclass(frozen=True, slots=True)
class _Entry:
    id: int
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    body: bytes
    subject: str | None
    annotations: str | None
    created_at: datetime
    deleted_at: datetime
    tags: tuple[str, ...]


def _entry(row: Any) -> _Entry:
    return _Entry(
        int(row.id),
        row.digest,
        row.media_type,
        row.artifact_type,
        int(row.size),
        bytes(row.body),
        row.subject_digest,
        row.annotations,
        row.created_at,
        row.deleted_at,
        tuple(json.loads(row.tags or "[]")),
    )


async def _newest(
    conn: AsyncConnection,
    registry_id: int,
    repository: str,
    digest: str,
    deleted_at: datetime | None = None,
) -> _Entry | None:
    """The bin entry for `digest`: the one deleted at `deleted_at` if any, else the newest."""
    query = select(deleted_manifests).where(
        deleted_manifests.c.registry_id == registry_id,
        deleted_manifests.c.repository == repository,
        deleted_manifests.c.digest == digest,
    )
    newest = query.order_by(deleted_manifests.c.deleted_at.desc(), deleted_manifests.c.id.desc())
    if deleted_at is not None:
        row = (
            await conn.execute(newest.where(deleted_manifests.c.deleted_at == deleted_at))
        ).first()
        if row is not None:
            return _entry(row)
    row = (await conn.execute(newest.limit(1))).first()
    return None if row is None else _entry(row)


async def _live(conn: AsyncConnection, repo_id: int, digest: str) -> int | None:
    return await conn.scalar(
        select(manifests.c.id).where(
            manifests.c.repository_id == repo_id, manifests.c.digest == digest
        )
    )


def _children(entry: _Entry) -> tuple[str, ...]:
    try:
        parsed = parse_manifest(entry.body, entry.media_type)
    except OciValueError as error:
        raise RestoreBlocked(f"manifest {entry.digest} cannot be read back: {error}") from None
    return tuple(dict.fromkeys(str(child.digest) for child in parsed.children))


async def _group(
    conn: AsyncConnection, registry_id: int, repository: str, repo_id: int, root: _Entry
) -> list[_Entry]:
    """`root` with the entries it needs (children not in the repository) and the referrers
    deleted with it, each after the children it needs."""
    order: list[_Entry] = []
    visited: set[int] = set()

    async def visit(entry: _Entry) -> None:
        if entry.id in visited:
            return
        visited.add(entry.id)
        for child in _children(entry):
            if await _live(conn, repo_id, child) is not None:
                continue
            found = await _newest(conn, registry_id, repository, child, entry.deleted_at)
            if found is None:
                raise RestoreBlocked(
                    f"index {entry.digest} needs manifest {child}, which is neither in "
                    f"{repository} nor in its recycle bin"
                )
            await visit(found)
        order.append(entry)
        referrers = await conn.execute(
            select(deleted_manifests).where(
                deleted_manifests.c.registry_id == registry_id,
                deleted_manifests.c.repository == repository,
                deleted_manifests.c.subject_digest == entry.digest,
                deleted_manifests.c.deleted_at == entry.deleted_at,
            )
        )
        for row in referrers.all():
            if await _live(conn, repo_id, row.digest) is None:
                await visit(_entry(row))

    await visit(root)
    return order


async def _reinsert(
    conn: AsyncConnection, registry_id: int, repo_id: int, entry: _Entry, now: datetime
) -> int:
    """Insert the entry's manifest with its references and blob links; drop the entry."""
    digests = list(
        (
            await conn.scalars(
                select(deleted_manifest_blobs.c.digest).where(
                    deleted_manifest_blobs.c.deleted_manifest_id == entry.id
                )
            )
        ).all()
    )
    sizes: dict[str, int] = {}
    if digests:
        rows = await conn.execute(
            select(blobs.c.digest, blobs.c.size).where(blobs.c.digest.in_(digests))
        )
        sizes = {row.digest: int(row.size) for row in rows.all()}
    missing = [d for d in digests if d not in sizes]
    if missing:
        raise RestoreBlocked(f"manifest {entry.digest} references blob {missing[0]}, which is gone")
    for digest in digests:
        await link_blob(conn, registry_id, repo_id, digest, sizes[digest])
    children = _children(entry)
    manifest_id = await conn.scalar(
        insert(manifests)
        .values(
            repository_id=repo_id,
            digest=entry.digest,
            media_type=entry.media_type,
            artifact_type=entry.artifact_type,
            size=entry.size,
            body=entry.body,
            subject_digest=entry.subject,
            annotations=entry.annotations,
            created_at=entry.created_at,
            untagged_at=now,
        )
        .returning(manifests.c.id)
    )
    assert manifest_id is not None
    if digests:
        await conn.execute(
            insert(manifest_blobs), [{"manifest_id": manifest_id, "digest": d} for d in digests]
        )
    if children:
        await conn.execute(
            insert(manifest_children),
            [{"manifest_id": manifest_id, "child_digest": d} for d in children],
        )
    await _drop(conn, entry.id)
    return int(manifest_id)


async def _drop(conn: AsyncConnection, entry_id: int) -> None:
    await conn.execute(delete(deleted_manifests).where(deleted_manifests.c.id == entry_id))


async def _apply(
    conn: AsyncConnection, repo_id: int, manifest_id: int, names: Sequence[str]
) -> tuple[list[str], list[TagConflict]]:
    """Point each free tag of `names` at the manifest: the tags that name it now, and those
    another manifest holds."""
    applied: list[str] = []
    conflicts: list[TagConflict] = []
    added = False
    now = utcnow()
    for name in dict.fromkeys(names):
        current = await conn.scalar(
            select(tags.c.manifest_id).where(tags.c.repository_id == repo_id, tags.c.name == name)
        )
        if current is None:
            await conn.execute(
                insert(tags).values(
                    repository_id=repo_id,
                    name=name,
                    manifest_id=manifest_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            added = True
            applied.append(name)
        elif current == manifest_id:
            applied.append(name)
        else:
            digests = await conn.execute(
                select(manifests.c.id, manifests.c.digest).where(
                    manifests.c.id.in_([current, manifest_id])
                )
            )
            by_id = {int(row[0]): row[1] for row in digests.all()}
            conflicts.append(TagConflict(name, by_id[manifest_id], by_id[current]))
    if added:
        await bump_tags_version(conn, repo_id)
        await mark_tagged(conn, manifest_id)
    return applied, conflicts


async def _deleted_tag_names(
    conn: AsyncConnection, registry_id: int, repository: str, digest: str
) -> list[str]:
    names = await conn.scalars(
        select(deleted_tags.c.name)
        .where(
            deleted_tags.c.registry_id == registry_id,
            deleted_tags.c.repository == repository,
            deleted_tags.c.digest == digest,
        )
        .order_by(deleted_tags.c.deleted_at.desc(), deleted_tags.c.name)
    )
    return list(dict.fromkeys(names.all()))


async def _forget_tags(
    conn: AsyncConnection,
    registry_id: int,
    repository: str,
    digest: str,
    names: Sequence[str],
) -> None:
    """Drop the deleted-tag records of `digest` whose tags were restored (`names`)."""
    if names:
        await conn.execute(
            delete(deleted_tags).where(
                deleted_tags.c.registry_id == registry_id,
                deleted_tags.c.repository == repository,
                deleted_tags.c.digest == digest,
                deleted_tags.c.name.in_(list(names)),
            )
        )
