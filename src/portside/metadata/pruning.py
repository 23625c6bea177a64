"""What policies delete: the retention job and purge find candidates in a read snapshot, then
delete each in its own transaction, which checks again that it still qualifies (a push may
have tagged it meanwhile) and skips locked items instead of failing (metadata/deletion.py).

An untagged manifest qualifies when no tag names it, no index of its repository references it
(an index keeps its children), it is not a referrer of a manifest of its repository (those go
with their subject) or, when the registry keeps orphan referrers, not a referrer at all, and
(for retention) it has been untagged since before the cutoff: `untagged_at`, or its creation
for rows older than that column.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select

from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.deletion import (
    Removal,
    delete_manifests,
    delete_tag,
    preview_deletion,
    read_repository_ref,
    repository_ref,
)
from portside.metadata.errors import LockViolation
from portside.metadata.locks import flags_of, lock_columns, require
from portside.metadata.retention import read_policy
from portside.metadata.schema import manifest_children, manifests, repositories, tags

__all__ = ["PruneStore", "TagInfo", "UntaggedManifest"]


@dataclass(frozen=True, slots=True)
class TagInfo:
    """A tag as policies see it; `locked` names the lock that keeps it, if any."""

    name: str
    digest: str
    updated_at: datetime
    locked: str | None


@dataclass(frozen=True, slots=True)
class UntaggedManifest:
    """A manifest that qualifies for deletion as untagged (see the module docstring)."""

    repository: str
    id: int
    digest: str


def _qualifies(
    before: datetime | None, keep_orphans: bool, ignore_tags: Collection[str] = ()
) -> ColumnElement[bool]:
    """The condition on `manifests` rows for an untagged manifest that may go."""
    tagged = select(tags.c.name).where(tags.c.manifest_id == manifests.c.id)
    if ignore_tags:
        tagged = tagged.where(tags.c.name.not_in(list(ignore_tags)))
    parent = manifests.alias("parent")
    referenced = (
        select(manifest_children.c.manifest_id)
        .join(parent, parent.c.id == manifest_children.c.manifest_id)
        .where(
            manifest_children.c.child_digest == manifests.c.digest,
            parent.c.repository_id == manifests.c.repository_id,
        )
    )
    subject = manifests.alias("subject")
    live_subject = select(subject.c.id).where(
        subject.c.repository_id == manifests.c.repository_id,
        subject.c.digest == manifests.c.subject_digest,
    )
    conditions = [~tagged.exists(), ~referenced.exists()]
    if keep_orphans:
        conditions.append(manifests.c.subject_digest.is_(None))
    else:
        conditions.append(or_(manifests.c.subject_digest.is_(None), ~live_subject.exists()))
    if before is not None:
        conditions.append(func.coalesce(manifests.c.untagged_at, manifests.c.created_at) <= before)
    return and_(*conditions)


class PruneStore:
    """Candidates for the lifecycle policies, and their deletion one at a time."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def repositories(self, registry_id: int) -> list[str]:
        """Every repository of the registry (listed or not), by name."""
        query = (
            select(repositories.c.name)
            .where(repositories.c.registry_id == registry_id)
            .order_by(repositories.c.name)
        )
        async with self._db.read() as conn:
            return list((await conn.scalars(query)).all())

    async def tags(self, registry_id: int, repository: str) -> list[TagInfo]:
        """The repository's tags, most recently updated first (ties: by name, descending)."""
        query = (
            select(
                tags.c.name,
                manifests.c.digest,
                tags.c.updated_at,
                *lock_columns(tags),
                *lock_columns(repositories),
            )
            .select_from(
                tags.join(manifests, manifests.c.id == tags.c.manifest_id).join(
                    repositories, repositories.c.id == tags.c.repository_id
                )
            )
            .where(repositories.c.registry_id == registry_id, repositories.c.name == repository)
            .order_by(tags.c.updated_at.desc(), tags.c.name.desc())
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        found = []
        for row in rows:
            try:
                require(flags_of(row, 7), "repository", repository, "write", "delete")
                require(flags_of(row, 3), "tag", row.name, "write", "delete")
                locked = None
            except LockViolation as problem:
                locked = str(problem)
            found.append(TagInfo(row.name, row.digest, row.updated_at, locked))
        return found

    async def untagged(
        self,
        registry_id: int,
        *,
        repository: str | None = None,
        before: datetime | None = None,
        after_id: int = 0,
        limit: int = 1000,
        ignore_tags: Collection[str] = (),
    ) -> list[UntaggedManifest]:
        """Untagged manifests that may go, in the registry (or one repository), by id after
        `after_id`; `ignore_tags` (with a repository) counts those tags as deleted."""
        async with self._db.read() as conn:
            policy = await read_policy(conn, registry_id)
            query = (
                select(repositories.c.name, manifests.c.id, manifests.c.digest)
                .select_from(
                    manifests.join(repositories, repositories.c.id == manifests.c.repository_id)
                )
                .where(
                    repositories.c.registry_id == registry_id,
                    manifests.c.id > after_id,
                    _qualifies(before, policy.keep_orphan_referrers, ignore_tags),
                )
                .order_by(manifests.c.id)
                .limit(limit)
            )
            if repository is not None:
                query = query.where(repositories.c.name == repository)
            rows = (await conn.execute(query)).all()
        return [UntaggedManifest(row[0], int(row[1]), row[2]) for row in rows]

    @retry_on_conflict
    async def delete_tag(
        self, registry_id: int, repository: str, tag: str, digest: str, reason: str
    ) -> Removal | None:
        """Delete the tag if it still names `digest`; a skipped Removal if a lock keeps it,
        None if it is gone or moved."""
        async with self._db.write() as conn:
            repo = await repository_ref(conn, registry_id, repository)
            if repo is None:
                return None
            return await delete_tag(
                conn, repo, tag, strict=False, reason=reason, expect_digest=digest
            )

    @retry_on_conflict
    async def delete_untagged(
        self,
        registry_id: int,
        repository: str,
        digest: str,
        *,
        before: datetime | None,
        reason: str,
    ) -> list[Removal]:
        """Delete an untagged manifest (with its cascades) if it still qualifies; what went
        and what locks kept."""
        async with self._db.write() as conn:
            repo = await repository_ref(conn, registry_id, repository)
            if repo is None:
                return []
            policy = await read_policy(conn, registry_id)
            manifest_id = await conn.scalar(
                select(manifests.c.id).where(
                    manifests.c.repository_id == repo.id,
                    manifests.c.digest == digest,
                    _qualifies(before, policy.keep_orphan_referrers),
                )
            )
            if manifest_id is None:
                return []
            return await delete_manifests(conn, repo, [manifest_id], strict=False, reason=reason)

    async def preview(
        self,
        registry_id: int,
        repository: str,
        digests: Sequence[str],
        *,
        reason: str,
        ignore_tags: Collection[str] = (),
    ) -> list[Removal]:
        """What deleting those manifests would remove and what locks would keep, changing
        nothing (a dry run); `ignore_tags` counts those tags as deleted."""
        async with self._db.read() as conn:
            repo = await read_repository_ref(conn, registry_id, repository)
            if repo is None or not digests:
                return []
            ids = (
                await conn.scalars(
                    select(manifests.c.id)
                    .where(manifests.c.repository_id == repo.id, manifests.c.digest.in_(digests))
                    .order_by(manifests.c.id)
                )
            ).all()
            return await preview_deletion(
                conn, repo, list(ids), strict=False, reason=reason, ignore_tags=ignore_tags
            )
