"""What ACR's metadata API (`/acr/v1`) reads and changes: attributes, lock flags, deletion.

Pages of tags and manifests come in one of three orders: by name (tags) or digest (manifests),
or by last update time, ascending or descending, ties broken by name or digest so that paging
is stable. As in ACR, a time-ordered page continues after `last`, the name (or digest) of the
last item seen: its time is looked up in the same snapshot as the page.

Every change takes the repository's row lock first (metadata/locks.py), as pushes and deletions
do, so flags read by a check are the flags the change commits against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, update

from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.connections import ReadConnection
from portside.metadata.database import Database
from portside.metadata.errors import UnknownCursor
from portside.metadata.locks import (
    FLAG_COLUMNS,
    flags_of,
    lock_columns,
    locked_repository,
    require,
)
from portside.metadata.records import (
    ManifestAttributes,
    RepositoryAttributes,
    RepositoryDeletion,
    TagAttributes,
)
from portside.metadata.recycle_bin import recycle_repository
from portside.metadata.registries import bump_auth_version
from portside.metadata.repositories import bump_tags_version, repository_id
from portside.metadata.schema import (
    blobs,
    manifest_blobs,
    manifests,
    repositories,
    tags,
    uploads,
)
from portside.metadata.usage import unlink_repository
from portside.metadata.webhooks import EventContext, enqueue_repository_deleted

__all__ = [
    "BY_NAME",
    "ORDERS",
    "TIME_ASCENDING",
    "TIME_DESCENDING",
    "ArtifactStore",
]

BY_NAME = "name"
TIME_ASCENDING = "timeasc"
TIME_DESCENDING = "timedesc"
ORDERS = frozenset({BY_NAME, TIME_ASCENDING, TIME_DESCENDING})
"""Orders a page may be asked in (by name or digest, or by last update time)."""

_TAG_COLUMNS = (
    tags.c.name,
    manifests.c.digest,
    tags.c.created_at,
    tags.c.updated_at,
    *lock_columns(tags),
)
_TAGS = select(*_TAG_COLUMNS).select_from(
    tags.join(manifests, manifests.c.id == tags.c.manifest_id)
)
_MANIFESTS = select(
    manifests.c.id,
    manifests.c.digest,
    manifests.c.media_type,
    manifests.c.size,
    manifests.c.body,
    manifests.c.created_at,
    *lock_columns(manifests),
)


class ArtifactStore:
    """Repository, tag and manifest attributes; flag updates; deleting a whole repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def repository(self, registry_id: int, name: str) -> RepositoryAttributes | None:
        """The repository's times, counts and flags; None if there is none."""
        query = select(
            repositories.c.id,
            repositories.c.created_at,
            repositories.c.updated_at,
            repositories.c.storage_bytes,
            *lock_columns(repositories),
        ).where(repositories.c.registry_id == registry_id, repositories.c.name == name)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            count = select(func.count())
            manifest_count = await conn.scalar(
                count.select_from(manifests).where(manifests.c.repository_id == row.id)
            )
            tag_count = await conn.scalar(
                count.select_from(tags).where(tags.c.repository_id == row.id)
            )
        return RepositoryAttributes(
            name,
            row.created_at,
            row.updated_at,
            int(manifest_count or 0),
            int(tag_count or 0),
            flags_of(row, 4),
            int(row.storage_bytes),
        )

    async def tags(
        self,
        registry_id: int,
        repository: str,
        *,
        last: str | None,
        limit: int,
        order: str = BY_NAME,
        digest: str | None = None,
    ) -> list[TagAttributes] | None:
        """A page of list-enabled tags (naming `digest`, if given); None without the repository.

        Raises UnknownCursor if a time-ordered page continues after a tag that is not there.
        """
        async with self._db.read() as conn:
            repo_id = await repository_id(conn, registry_id, repository)
            if repo_id is None:
                return None
            query = _TAGS.where(tags.c.repository_id == repo_id, tags.c.list_enabled)
            if digest is not None:
                query = query.where(manifests.c.digest == digest)
            cursor = None
            if last is not None and order != BY_NAME:
                cursor = await conn.scalar(
                    select(tags.c.updated_at).where(
                        tags.c.repository_id == repo_id, tags.c.name == last
                    )
                )
                if cursor is None:
                    raise UnknownCursor(last)
            query = _ordered(query, tags.c.updated_at, tags.c.name, order, last, cursor)
            rows = (await conn.execute(query.limit(limit))).all()
        return [_tag(row) for row in rows]

    async def tag(self, registry_id: int, repository: str, tag: str) -> TagAttributes | None:
        """One tag, listed or not; None if it (or the repository) does not exist."""
        query = _TAGS.join(repositories, repositories.c.id == tags.c.repository_id).where(
            repositories.c.registry_id == registry_id,
            repositories.c.name == repository,
            tags.c.name == tag,
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _tag(row)

    async def manifests(
        self,
        registry_id: int,
        repository: str,
        *,
        last: str | None,
        limit: int,
        order: str = BY_NAME,
    ) -> list[ManifestAttributes] | None:
        """A page of list-enabled manifests; None without the repository.

        Raises UnknownCursor if a time-ordered page continues after a digest that is not there.
        """
        async with self._db.read() as conn:
            repo_id = await repository_id(conn, registry_id, repository)
            if repo_id is None:
                return None
            query = _MANIFESTS.where(manifests.c.repository_id == repo_id, manifests.c.list_enabled)
            cursor = None
            if last is not None and order != BY_NAME:
                cursor = await conn.scalar(
                    select(manifests.c.created_at).where(
                        manifests.c.repository_id == repo_id, manifests.c.digest == last
                    )
                )
                if cursor is None:
                    raise UnknownCursor(last)
            query = _ordered(query, manifests.c.created_at, manifests.c.digest, order, last, cursor)
            rows = (await conn.execute(query.limit(limit))).all()
            return await _manifest_attributes(conn, rows)

    async def manifest(
        self, registry_id: int, repository: str, digest: str
    ) -> ManifestAttributes | None:
        """One manifest, listed or not; None if it (or the repository) does not exist."""
        query = _MANIFESTS.join(repositories, repositories.c.id == manifests.c.repository_id).where(
            repositories.c.registry_id == registry_id,
            repositories.c.name == repository,
            manifests.c.digest == digest,
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
            found = await _manifest_attributes(conn, rows)
        return found[0] if found else None

    @retry_on_conflict
    async def update_repository(
        self, registry_id: int, name: str, changes: Mapping[str, bool]
    ) -> bool:
        """Set some of the repository's flags; False if there is no such repository."""
        _check(changes)
        async with self._db.write() as conn:
            locked = await locked_repository(conn, registry_id, name)
            if locked is None:
                return False
            if changes:
                await conn.execute(
                    update(repositories).where(repositories.c.id == locked[0]).values(**changes)
                )
            return True

    @retry_on_conflict
    async def update_tag(
        self, registry_id: int, repository: str, tag: str, changes: Mapping[str, bool]
    ) -> bool:
        """Set some of a tag's flags; False if there is no such tag.

        Hiding or showing the tag changes the repository's tag-list version (services/listings
        caches pages of names by that version).
        """
        _check(changes)
        async with self._db.write() as conn:
            locked = await locked_repository(conn, registry_id, repository)
            if locked is None:
                return False
            where = and_(tags.c.repository_id == locked[0], tags.c.name == tag)
            listed = (await conn.execute(select(tags.c.list_enabled).where(where))).first()
            if listed is None:
                return False
            if changes:
                await conn.execute(update(tags).where(where).values(**changes))
            if "list_enabled" in changes and changes["list_enabled"] != bool(listed[0]):
                await bump_tags_version(conn, locked[0])
            return True

    @retry_on_conflict
    async def update_manifest(
        self, registry_id: int, repository: str, digest: str, changes: Mapping[str, bool]
    ) -> bool:
        """Set some of a manifest's flags; False if there is no such manifest."""
        _check(changes)
        async with self._db.write() as conn:
            locked = await locked_repository(conn, registry_id, repository)
            if locked is None:
                return False
            where = and_(manifests.c.repository_id == locked[0], manifests.c.digest == digest)
            if await conn.scalar(select(manifests.c.id).where(where)) is None:
                return False
            if changes:
                await conn.execute(update(manifests).where(where).values(**changes))
            return True

    @retry_on_conflict
    async def delete_repository(
        self, registry_id: int, name: str, context: EventContext | None = None
    ) -> RepositoryDeletion | None:
        """Delete a repository with its manifests, tags, blob links and uploads.

        Raises LockViolation unless the repository and everything in it may be written and
        deleted (nothing is deleted then). None if there is no such repository. Blob bytes
        stay for garbage collection; the caller removes the returned uploads' bytes. Under
        soft delete its manifests go to the recycle bin first, restorable until they expire.
        """
        async with self._db.write() as conn:
            locked = await locked_repository(conn, registry_id, name)
            if locked is None:
                return None
            repo_id, flags = locked
            require(flags, "repository", name, "write", "delete")
            found = await conn.execute(
                select(manifests.c.digest, *lock_columns(manifests))
                .where(manifests.c.repository_id == repo_id)
                .order_by(manifests.c.digest)
            )
            manifest_rows = found.all()
            for row in manifest_rows:
                require(flags_of(row, 1), "manifest", row[0], "write", "delete")
            found = await conn.execute(
                select(tags.c.name, *lock_columns(tags))
                .where(tags.c.repository_id == repo_id)
                .order_by(tags.c.name)
            )
            tag_rows = found.all()
            for row in tag_rows:
                require(flags_of(row, 1), "tag", row[0], "write", "delete")
            upload_ids = await conn.scalars(
                select(uploads.c.id).where(uploads.c.repository_id == repo_id)
            )
            deleted = RepositoryDeletion(
                tuple(row[0] for row in manifest_rows),
                tuple(row[0] for row in tag_rows),
                tuple(upload_ids.all()),
            )
            await enqueue_repository_deleted(conn, registry_id, repo_id, name, context)
            # Under soft delete its manifests (with their tags) go to the recycle bin first.
            await recycle_repository(conn, registry_id, repo_id, name)
            # Links go through usage (the counters); manifests, tags and upload rows go by
            # ON DELETE CASCADE.
            await unlink_repository(conn, registry_id, repo_id)
            await conn.execute(delete(repositories).where(repositories.c.id == repo_id))
            # Grants may name the repository (its anonymous pull, a token's exact scope): tokens
            # issued before must be re-evaluated, or they would reach whatever is pushed next
            # under the same name.
            await bump_auth_version(conn, registry_id)
            return deleted


def _ordered(
    query: Select[Any],
    time: Any,
    name: Any,
    order: str,
    last: str | None,
    cursor: Any,
) -> Select[Any]:
    """`query` in `order`, continuing after `last` (whose time is `cursor` in time order)."""
    if order == BY_NAME:
        if last is not None:
            query = query.where(name > last)
        return query.order_by(name)
    after: ColumnElement[bool] | None = None
    if order == TIME_ASCENDING:
        if last is not None:
            after = or_(time > cursor, and_(time == cursor, name > last))
        ordered = query.order_by(time.asc(), name.asc())
    else:
        if last is not None:
            after = or_(time < cursor, and_(time == cursor, name < last))
        ordered = query.order_by(time.desc(), name.desc())
    return ordered if after is None else ordered.where(after)


def _tag(row: Any) -> TagAttributes:
    return TagAttributes(row[0], row[1], row[2], row[3], flags_of(row, 4))


async def _manifest_attributes(
    conn: ReadConnection, rows: Sequence[Any]
) -> list[ManifestAttributes]:
    """Attributes of manifest rows (from _MANIFESTS), with blob sizes and tags in two queries."""
    ids = [row[0] for row in rows]
    if not ids:
        return []
    size_rows = await conn.execute(
        select(manifest_blobs.c.manifest_id, func.sum(blobs.c.size))
        .select_from(manifest_blobs.join(blobs, blobs.c.digest == manifest_blobs.c.digest))
        .where(manifest_blobs.c.manifest_id.in_(ids))
        .group_by(manifest_blobs.c.manifest_id)
    )
    sizes = {row[0]: row[1] for row in size_rows.all()}
    names: dict[int, list[str]] = {}
    tag_rows = await conn.execute(
        select(tags.c.manifest_id, tags.c.name)
        .where(tags.c.manifest_id.in_(ids))
        .order_by(tags.c.name)
    )
    for manifest_id, name in tag_rows.all():
        names.setdefault(manifest_id, []).append(name)
    return [
        ManifestAttributes(
            digest=row[1],
            media_type=row[2],
            size=row[3],
            blob_size=int(sizes.get(row[0]) or 0),
            body=row[4],
            created_at=row[5],
            tags=tuple(names.get(row[0], ())),
            flags=flags_of(row, 6),
        )
        for row in rows
    ]


def _check(changes: Mapping[str, bool]) -> None:
    unknown = set(changes) - set(FLAG_COLUMNS)
    if unknown:
        raise ValueError(f"not a lock flag: {', '.join(sorted(unknown))}")
