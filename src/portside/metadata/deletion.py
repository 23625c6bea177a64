"""Deleting manifests and tags inside the caller's write transaction: cascades, lock checks,
the recycle bin, and the untagged clock.

Every path that deletes a manifest (`/v2` and `/acr/v1` deletes, repository deletion, the
retention job, purge) goes through `delete_manifests`, holding the repository's row lock:

- referrers whose subject is a deleted manifest go with it, unless the registry keeps orphan
  referrers (`keep_orphan_referrers`);
- children of a deleted index go with it when nothing else keeps them: no tag names them and
  no other (remaining) index of the repository references them;
- lock flags are checked for everything that would go (repository, manifests, their tags):
  `strict` (user deletes) refuses the whole deletion with the first LockViolation; otherwise
  (policies) locked manifests stay, with what only they would have taken along, and are
  reported as skipped;
- with the registry's `soft_delete_days` set, each deleted manifest is copied to the recycle
  bin (`deleted_manifests`, its tags as a JSON list, its blobs in `deleted_manifest_blobs`,
  which the garbage collector keeps) before its row goes; a deleted tag alone is recorded in
  `deleted_tags`.

Deletions write a `delete` event for each matching webhook in the same transaction
(metadata/webhooks.py); `context` is the request behind them (None for policies).

`manifests.untagged_at` is when a manifest last lost its last tag (or was pushed without one):
`mark_untagged` and `mark_tagged` keep it in the transactions that change tags.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.connections import ReadConnection
from portside.metadata.errors import LockViolation
from portside.metadata.locks import flags_of, lock_columns, locked_repository, require
from portside.metadata.records import LockFlags
from portside.metadata.recycle_bin import record_deleted_tag, recycle
from portside.metadata.repositories import bump_tags_version
from portside.metadata.retention import LifecyclePolicy, read_policy
from portside.metadata.schema import (
    manifest_children,
    manifests,
    repositories,
    tags,
)
from portside.metadata.webhooks import (
    EventContext,
    EventTarget,
    described_manifests,
    enabled_webhooks,
    enqueue,
    enqueue_chart_deletions,
)

__all__ = [
    "Removal",
    "RepositoryRef",
    "delete_manifests",
    "delete_tag",
    "mark_tagged",
    "mark_untagged",
    "preview_deletion",
    "read_repository_ref",
    "repository_ref",
]


@dataclass(frozen=True, slots=True)
class RepositoryRef:
    """The repository a deletion works in, with its flags as read in that transaction."""

    registry_id: int
    id: int
    name: str
    flags: LockFlags


@dataclass(frozen=True, slots=True)
class Removal:
    """A manifest (with the tags that went with it) or a tag that a deletion removed, or,
    for policies, left in place because of a lock (`skipped` says which).

    `reason` says why it was chosen: what the caller asked (`requested`, `untagged`, a purge
    filter...), or `referrer of <digest>` / `child of <digest>` for cascades.
    """

    repository: str
    kind: str
    digest: str
    tags: tuple[str, ...] = ()
    reason: str = "requested"
    skipped: str | None = None


@dataclass(slots=True)
class _Candidate:
    id: int
    digest: str
    flags: LockFlags
    tags: list[tuple[str, LockFlags]] = field(default_factory=list)
    reason: str = "requested"


async def repository_ref(
    conn: AsyncConnection, registry_id: int, name: str
) -> RepositoryRef | None:
    """The repository with its flags, its row locked (exclusive) until the write transaction
    ends; None if there is none."""
    locked = await locked_repository(conn, registry_id, name)
    return None if locked is None else RepositoryRef(registry_id, locked[0], name, locked[1])


async def read_repository_ref(
    conn: ReadConnection, registry_id: int, name: str
) -> RepositoryRef | None:
    """The repository with its flags, unlocked (read-only transactions, such as a preview);
    None if there is none."""
    row = (
        await conn.execute(
            select(repositories.c.id, *lock_columns(repositories)).where(
                repositories.c.registry_id == registry_id, repositories.c.name == name
            )
        )
    ).first()
    return None if row is None else RepositoryRef(registry_id, int(row[0]), name, flags_of(row, 1))


async def mark_untagged(
    conn: AsyncConnection, manifest_ids: Collection[int], now: datetime
) -> None:
    """Start the untagged clock of those manifests that no tag names any more."""
    if not manifest_ids:
        return
    tagged = select(tags.c.manifest_id).where(tags.c.manifest_id == manifests.c.id).exists()
    await conn.execute(
        update(manifests)
        .where(manifests.c.id.in_(list(manifest_ids)), manifests.c.untagged_at.is_(None), ~tagged)
        .values(untagged_at=now)
    )


async def mark_tagged(conn: AsyncConnection, manifest_id: int) -> None:
    """Stop the untagged clock of a manifest a tag now names."""
    await conn.execute(
        update(manifests)
        .where(manifests.c.id == manifest_id, manifests.c.untagged_at.is_not(None))
        .values(untagged_at=None)
    )


async def delete_tag(
    conn: AsyncConnection,
    repo: RepositoryRef,
    tag: str,
    *,
    strict: bool,
    reason: str = "requested",
    expect_digest: str | None = None,
    now: datetime | None = None,
    context: EventContext | None = None,
) -> Removal | None:
    """Delete one tag (its manifest stays, and starts its untagged clock if that was its last
    tag); recorded in `deleted_tags` under soft delete.

    None if there is no such tag, or it no longer names `expect_digest`. A lock: LockViolation
    if `strict`, else a skipped Removal.
    """
    now = now or utcnow()
    where = (tags.c.repository_id == repo.id) & (tags.c.name == tag)
    row = (
        await conn.execute(
            select(tags.c.manifest_id, manifests.c.digest, *lock_columns(tags))
            .select_from(tags.join(manifests, manifests.c.id == tags.c.manifest_id))
            .where(where)
        )
    ).first()
    if row is None or (expect_digest is not None and row.digest != expect_digest):
        return None
    try:
        require(repo.flags, "repository", repo.name, "write", "delete")
        require(flags_of(row, 2), "tag", tag, "write", "delete")
    except LockViolation as problem:
        if strict:
            raise
        return Removal(repo.name, "tag", row.digest, (tag,), reason, skipped=str(problem))
    await conn.execute(delete(tags).where(where))
    await bump_tags_version(conn, repo.id)
    await mark_untagged(conn, [row.manifest_id], now)
    policy = await read_policy(conn, repo.registry_id)
    if policy.soft_delete_days:
        await record_deleted_tag(
            conn, repo.registry_id, repo.name, tag, row.digest, now, policy.soft_delete_days
        )
    hooks = await enabled_webhooks(conn, repo.registry_id)
    if hooks:
        described = (await described_manifests(conn, [row.manifest_id]))[row.manifest_id]
        target = EventTarget(repo.name, row.digest, *described, tag=tag)
        await enqueue(conn, hooks, "delete", [target], context, now)
        await enqueue_chart_deletions(conn, hooks, [(row.manifest_id, target)], context, now)
    return Removal(repo.name, "tag", row.digest, (tag,), reason)


async def delete_manifests(
    conn: AsyncConnection,
    repo: RepositoryRef,
    roots: Sequence[int],
    *,
    strict: bool,
    reason: str = "requested",
    now: datetime | None = None,
    context: EventContext | None = None,
) -> list[Removal]:
    """Delete the manifests `roots` (ids in `repo`) with their tags and cascades.

    Returns, root by root, what went (the root, then its cascades in the order found) and,
    unless `strict`, what a lock kept.
    """
    now = now or utcnow()
    policy = await read_policy(conn, repo.registry_id)
    doomed, report = await _plan(conn, repo, roots, policy, strict, reason, ())
    if doomed:
        ids = [c.id for c in doomed]
        await _enqueue_deleted(conn, repo, doomed, context, now)
        if policy.soft_delete_days:
            await recycle(conn, repo.registry_id, repo.name, ids, now, policy.soft_delete_days)
        await conn.execute(delete(manifests).where(manifests.c.id.in_(ids)))
        if any(c.tags for c in doomed):
            await bump_tags_version(conn, repo.id)  # the tags went by ON DELETE CASCADE
    return report


async def _enqueue_deleted(
    conn: AsyncConnection,
    repo: RepositoryRef,
    doomed: Sequence[_Candidate],
    context: EventContext | None,
    now: datetime,
) -> None:
    """A delete event per doomed manifest for each matching webhook (none: one read)."""
    hooks = await enabled_webhooks(conn, repo.registry_id)
    if not hooks:
        return
    described = await described_manifests(conn, [c.id for c in doomed])
    deleted = [
        (c.id, EventTarget(repo.name, c.digest, *described[c.id], tags=tuple(n for n, _ in c.tags)))
        for c in doomed
    ]
    await enqueue(conn, hooks, "delete", [target for _, target in deleted], context, now)
    await enqueue_chart_deletions(conn, hooks, deleted, context, now)


async def preview_deletion(
    conn: ReadConnection,
    repo: RepositoryRef,
    roots: Sequence[int],
    *,
    strict: bool,
    reason: str = "requested",
    ignore_tags: Collection[str] = (),
) -> list[Removal]:
    """What `delete_manifests` would return, changing nothing (a read-only transaction will
    do); `ignore_tags` are tag names it treats as already deleted."""
    policy = await read_policy(conn, repo.registry_id)
    _, report = await _plan(conn, repo, roots, policy, strict, reason, ignore_tags)
    return report


async def _plan(
    conn: ReadConnection,
    repo: RepositoryRef,
    roots: Sequence[int],
    policy: LifecyclePolicy,
    strict: bool,
    reason: str,
    ignore_tags: Collection[str],
) -> tuple[list[_Candidate], list[Removal]]:
    """What deleting `roots` takes along (cascades, in order) and the report to answer."""
    found = {
        c.id: c for c in await _load(conn, repo.id, manifests.c.id.in_(list(roots)), ignore_tags)
    }
    ordered = [found[i] for i in roots if i in found]
    for candidate in ordered:
        candidate.reason = reason
    return await _closure(conn, repo, ordered, policy, strict, set(ignore_tags))


async def _load(
    conn: ReadConnection, repo_id: int, where: ColumnElement[bool], ignore_tags: Collection[str]
) -> list[_Candidate]:
    """Manifests of the repository matching `where`, with their tags (names and flags)."""
    rows = (
        await conn.execute(
            select(manifests.c.id, manifests.c.digest, *lock_columns(manifests))
            .where(manifests.c.repository_id == repo_id, where)
            .order_by(manifests.c.id)
        )
    ).all()
    found = {int(row[0]): _Candidate(int(row[0]), row[1], flags_of(row, 2)) for row in rows}
    if found:
        tag_rows = await conn.execute(
            select(tags.c.manifest_id, tags.c.name, *lock_columns(tags))
            .where(tags.c.manifest_id.in_(list(found)))
            .order_by(tags.c.name)
        )
        for row in tag_rows.all():
            if row[1] not in ignore_tags:
                found[int(row[0])].tags.append((row[1], flags_of(row, 2)))
    return list(found.values())


def _lock_problem(repo: RepositoryRef, candidate: _Candidate) -> LockViolation | None:
    try:
        require(repo.flags, "repository", repo.name, "write", "delete")
        require(candidate.flags, "manifest", candidate.digest, "write", "delete")
        for name, flags in candidate.tags:
            require(flags, "tag", name, "write", "delete")
    except LockViolation as problem:
        return problem
    return None


async def _closure(
    conn: ReadConnection,
    repo: RepositoryRef,
    roots: list[_Candidate],
    policy: LifecyclePolicy,
    strict: bool,
    ignore_tags: set[str],
) -> tuple[list[_Candidate], list[Removal]]:
    """What deleting `roots` takes along (see the module docstring), and the report: for each
    root in turn, what goes with it, then what locks keep (as deleting them one by one)."""
    doomed: dict[int, _Candidate] = {}
    seen: set[int] = set()
    report: list[Removal] = []
    for root in roots:
        queue, skipped = [root], []
        while queue:
            candidate = queue.pop(0)
            if candidate.id in seen:
                continue
            seen.add(candidate.id)
            names = tuple(n for n, _ in candidate.tags)
            problem = _lock_problem(repo, candidate)
            if problem is not None:
                if strict:
                    raise problem
                skipped.append(
                    Removal(
                        repo.name,
                        "manifest",
                        candidate.digest,
                        names,
                        candidate.reason,
                        str(problem),
                    )
                )
                continue
            doomed[candidate.id] = candidate
            report.append(Removal(repo.name, "manifest", candidate.digest, names, candidate.reason))
            if not policy.keep_orphan_referrers:
                for referrer in await _load(
                    conn, repo.id, manifests.c.subject_digest == candidate.digest, ignore_tags
                ):
                    if referrer.id not in seen:
                        referrer.reason = f"referrer of {candidate.digest}"
                        queue.append(referrer)
            queue.extend(await _orphaned_children(conn, repo, candidate, doomed, ignore_tags))
        report += skipped
    return list(doomed.values()), report


async def _orphaned_children(
    conn: ReadConnection,
    repo: RepositoryRef,
    parent: _Candidate,
    doomed: dict[int, _Candidate],
    ignore_tags: set[str],
) -> list[_Candidate]:
    """Children of `parent` that no tag names and no remaining index of the repo references."""
    child_digests = select(manifest_children.c.child_digest).where(
        manifest_children.c.manifest_id == parent.id
    )
    orphaned = []
    for child in await _load(conn, repo.id, manifests.c.digest.in_(child_digests), ignore_tags):
        if child.id in doomed or child.tags:
            continue
        parents = await conn.scalars(
            select(manifest_children.c.manifest_id)
            .join(manifests, manifests.c.id == manifest_children.c.manifest_id)
            .where(
                manifest_children.c.child_digest == child.digest,
                manifests.c.repository_id == repo.id,
            )
        )
        if all(parent_id in doomed for parent_id in parents.all()):
            child.reason = f"child of {parent.digest}"
            orphaned.append(child)
    return orphaned
