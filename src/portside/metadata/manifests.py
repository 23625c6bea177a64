"""Manifests, their references, and the subject → referrers index.

Pulls check the read flags of the repository, the tag (when pulled by tag) and the manifest in
the same query; pushes and deletions check the other flags inside their transaction
(metadata/locks.py). A push and a deletion write their webhook events in their own
transaction (metadata/webhooks.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.deletion import (
    delete_manifests,
    mark_tagged,
    mark_untagged,
    repository_ref,
)
from portside.metadata.errors import LockViolation, TagImmutableViolation
from portside.metadata.locks import immutable_tags, writable_repository
from portside.metadata.records import ManifestRecord, ReferrerRecord
from portside.metadata.repositories import bump_tags_version
from portside.metadata.schema import (
    manifest_blobs,
    manifest_children,
    manifests,
    repositories,
    repository_blobs,
    tags,
)
from portside.metadata.webhooks import EventContext, EventTarget, enabled_webhooks, enqueue
from portside.oci.charts import ChartRef

__all__ = ["ManifestStore", "NewManifest"]

_RECORD_COLUMNS = (
    manifests.c.id,
    manifests.c.digest,
    manifests.c.media_type,
    manifests.c.size,
    manifests.c.body,
)

# The pull path's two statements, built once: constructing a SELECT costs more than running it.
_IN_REPOSITORY = and_(
    repositories.c.registry_id == bindparam("registry_id"),
    repositories.c.name == bindparam("repository"),
)
# The read flags follow the record's columns: repository, manifest, then (by tag) the tag.
_READABLE = (repositories.c.read_enabled, manifests.c.read_enabled)
_BY_DIGEST = (
    select(*_RECORD_COLUMNS, *_READABLE)
    .select_from(manifests.join(repositories, repositories.c.id == manifests.c.repository_id))
    .where(_IN_REPOSITORY, manifests.c.digest == bindparam("digest"))
)
_BY_TAG = (
    select(*_RECORD_COLUMNS, *_READABLE, tags.c.read_enabled)
    .select_from(
        manifests.join(repositories, repositories.c.id == manifests.c.repository_id).join(
            tags, tags.c.manifest_id == manifests.c.id
        )
    )
    .where(_IN_REPOSITORY, tags.c.name == bindparam("tag"))
)


@dataclass(frozen=True, slots=True)
class NewManifest:
    """Everything stored about a manifest being pushed."""

    digest: str
    media_type: str
    artifact_type: str | None
    body: bytes
    subject: str | None
    annotations: dict[str, str]
    blobs: tuple[str, ...]
    children: tuple[str, ...]
    chart: ChartRef | None = None
    """The Helm chart it holds, for `chart_push` events (not stored: a deletion reads the
    chart's name from the body)."""


class ManifestStore:
    """Manifests and the tags that name them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(
        self,
        registry_id: int,
        repository: str,
        *,
        digest: str | None = None,
        tag: str | None = None,
    ) -> ManifestRecord | None:
        """A manifest by digest or by tag, in one query.

        Raises LockViolation if the repository, the tag or the manifest is read-disabled.
        """
        params = {"registry_id": registry_id, "repository": repository}
        if tag is not None:
            query, params["tag"] = _BY_TAG, tag
        else:
            query, params["digest"] = _BY_DIGEST, digest
        # By digest the row is immutable content: a lagging replica may answer it, and a miss
        # there is asked of the primary. A tag can move, so it is always the primary's answer.
        lag_safe = tag is None and self._db.has_replica
        async with self._db.read(lag_safe=lag_safe) as conn:
            row = (await conn.execute(query, params)).first()
        if row is None and lag_safe:
            async with self._db.read() as conn:
                row = (await conn.execute(query, params)).first()
        if row is None:
            return None
        record = ManifestRecord(*row[:5])
        if not row[5]:
            raise LockViolation("repository", repository, "read")
        if tag is not None and not row[7]:
            raise LockViolation("tag", tag, "read")
        if not row[6]:
            raise LockViolation("manifest", record.digest, "read")
        return record

    @retry_on_conflict
    async def put(
        self,
        registry_id: int,
        repository: str,
        new: NewManifest,
        tag: str | None,
        context: EventContext | None = None,
        *,
        lazy_references: bool = False,
    ) -> list[str]:
        """Store a manifest (and move `tag` to it) in one transaction.

        Returns the referenced digests the repository lacks; if any, nothing is written.
        With `lazy_references` (a pull-through cache, whose blobs and child manifests arrive
        when a client asks for them) none are looked for.
        Raises LockViolation if the repository is write-disabled or the tag is write-disabled
        and would move, TagImmutableViolation if tags are immutable and it would move.
        """
        async with self._db.write() as conn:
            repo_id = await writable_repository(conn, registry_id, repository)
            missing = [] if lazy_references else await _missing_references(conn, repo_id, new)
            if missing:
                return missing
            # Inserted first, looked up only if it was there: a push is usually of a new one.
            manifest_id, fresh = await _insert_manifest(conn, repo_id, new, tagged=tag is not None)
            if tag is not None:
                await _move_tag(conn, registry_id, repo_id, tag, manifest_id, fresh=fresh)
            hooks = await enabled_webhooks(conn, registry_id)
            if hooks:
                target = EventTarget(
                    repository, new.digest, new.media_type, len(new.body), tag, chart=new.chart
                )
                await enqueue(conn, hooks, "push", [target], context)
                if new.chart is not None and tag is not None:
                    await enqueue(conn, hooks, "chart_push", [target], context)
            return []

    @retry_on_conflict
    async def delete(
        self,
        registry_id: int,
        repository: str,
        digest: str,
        context: EventContext | None = None,
    ) -> bool:
        """Delete a manifest by digest (its tags go with it); False if it was not there.

        Its referrers and the children only it kept go too, into the recycle bin under soft
        delete (metadata/deletion.py). Raises LockViolation unless the repository and every
        manifest and tag that would go may be written and deleted; nothing goes then.
        """
        async with self._db.write() as conn:
            repo = await repository_ref(conn, registry_id, repository)
            if repo is None:
                return False
            manifest_id = await _manifest_id(conn, repo.id, digest)
            if manifest_id is None:
                return False
            await delete_manifests(conn, repo, [manifest_id], strict=True, context=context)
            return True

    async def referrers(
        self, registry_id: int, repository: str, subject: str, artifact_type: str | None
    ) -> list[ReferrerRecord]:
        """Manifests in the repository whose subject is `subject`, oldest first."""
        query = (
            select(
                manifests.c.digest,
                manifests.c.media_type,
                manifests.c.size,
                manifests.c.artifact_type,
                manifests.c.annotations,
            )
            .select_from(
                manifests.join(repositories, repositories.c.id == manifests.c.repository_id)
            )
            .where(
                and_(
                    repositories.c.registry_id == registry_id,
                    repositories.c.name == repository,
                    manifests.c.subject_digest == subject,
                )
            )
            .order_by(manifests.c.id)
        )
        if artifact_type is not None:
            query = query.where(manifests.c.artifact_type == artifact_type)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            ReferrerRecord(d, mt, size, at, json.loads(ann) if ann else None)
            for d, mt, size, at, ann in rows
        ]


async def _missing_references(conn: AsyncConnection, repo_id: int, new: NewManifest) -> list[str]:
    missing: list[str] = []
    if new.blobs:
        present = set(
            (
                await conn.scalars(
                    select(repository_blobs.c.digest).where(
                        and_(
                            repository_blobs.c.repository_id == repo_id,
                            repository_blobs.c.digest.in_(new.blobs),
                        )
                    )
                )
            ).all()
        )
        missing.extend(d for d in new.blobs if d not in present)
    if new.children:
        present = set(
            (
                await conn.scalars(
                    select(manifests.c.digest).where(
                        and_(
                            manifests.c.repository_id == repo_id,
                            manifests.c.digest.in_(new.children),
                        )
                    )
                )
            ).all()
        )
        missing.extend(d for d in new.children if d not in present)
    return missing


async def _manifest_id(conn: AsyncConnection, repo_id: int, digest: str) -> int | None:
    return await conn.scalar(
        select(manifests.c.id).where(
            and_(manifests.c.repository_id == repo_id, manifests.c.digest == digest)
        )
    )


async def _insert_manifest(
    conn: AsyncConnection, repo_id: int, new: NewManifest, *, tagged: bool
) -> tuple[int, bool]:
    """Insert the manifest and its references; its id, and whether it was inserted here (an
    existing one, pushed before or by a concurrent push that won, is left as it is).

    Pushed without a tag, its untagged clock starts now.
    """
    now = utcnow()
    manifest_id = await conn.scalar(
        insert_or_ignore(conn, manifests, ("repository_id", "digest"))
        .values(
            repository_id=repo_id,
            digest=new.digest,
            media_type=new.media_type,
            artifact_type=new.artifact_type,
            size=len(new.body),
            body=new.body,
            subject_digest=new.subject,
            annotations=json.dumps(new.annotations) if new.annotations else None,
            created_at=now,
            untagged_at=None if tagged else now,
        )
        .returning(manifests.c.id)
    )
    if manifest_id is None:
        # Pushed before, or the winner committed this digest with the same body (same digest,
        # same bytes) and its references; this transaction only has to point the tag at it.
        winner = await _manifest_id(conn, repo_id, new.digest)
        assert winner is not None
        return winner, False
    blob_rows = [{"manifest_id": manifest_id, "digest": d} for d in dict.fromkeys(new.blobs)]
    if blob_rows:
        await conn.execute(insert(manifest_blobs), blob_rows)
    child_rows = [
        {"manifest_id": manifest_id, "child_digest": d} for d in dict.fromkeys(new.children)
    ]
    if child_rows:
        await conn.execute(insert(manifest_children), child_rows)
    return int(manifest_id), True


async def _move_tag(
    conn: AsyncConnection,
    registry_id: int,
    repo_id: int,
    tag: str,
    manifest_id: int,
    *,
    fresh: bool = False,
) -> None:
    """Point `tag` at the manifest, inside a transaction holding the repository's row lock.

    The lock orders every writer of this repository's tags, so the flags and the registry's
    immutability read here are the ones the change commits against; two pushes moving the same
    tag take turns and the last commit wins. Naming the manifest it already names changes
    nothing (not even a timestamp) and is allowed whatever the locks say. The manifest
    the tag leaves starts its untagged clock if that was its last tag; the one it names stops
    its clock (`fresh`: it was inserted tagged by this transaction, its clock never started).
    """
    where = and_(tags.c.repository_id == repo_id, tags.c.name == tag)
    row = (
        await conn.execute(select(tags.c.manifest_id, tags.c.write_enabled).where(where))
    ).first()
    now = utcnow()
    if row is None:
        # ON CONFLICT as a backstop: a concurrent insert loses the race without an error.
        result = await conn.execute(
            insert_or_ignore(conn, tags, ("repository_id", "name")).values(
                repository_id=repo_id,
                name=tag,
                manifest_id=manifest_id,
                created_at=now,
                updated_at=now,
            )
        )
        if result.rowcount:
            await bump_tags_version(conn, repo_id)
            if not fresh:
                await mark_tagged(conn, manifest_id)
        return
    if row.manifest_id == manifest_id:
        return
    if not row.write_enabled:
        raise LockViolation("tag", tag, "write")
    if await immutable_tags(conn, registry_id):
        raise TagImmutableViolation(tag)
    await conn.execute(update(tags).where(where).values(manifest_id=manifest_id, updated_at=now))
    await bump_tags_version(conn, repo_id)
    if not fresh:
        await mark_tagged(conn, manifest_id)
    await mark_untagged(conn, [row.manifest_id], now)
