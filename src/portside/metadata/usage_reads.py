"""Reading what a registry uses, to compare with its quotas (metadata/usage.py keeps the
storage counters exact).

The reads are cheap: storage comes from the counters (`registries.storage_bytes`,
`repositories.storage_bytes`), and the counts are `COUNT(*)` over the registry's rows through
the `(registry_id, name)` unique indexes of repositories, tokens, scope maps and webhooks.
System scope maps (`_repositories_*`, which every registry has) do not count.

`counters` and `recount` serve audits: the first reads the counters as stored, the second
recomputes the same figures from the link tables (a scan: not for the request path).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import distinct, func, select

from portside.metadata.connections import ReadConnection
from portside.metadata.database import Database
from portside.metadata.schema import (
    blobs,
    registries,
    registry_blobs,
    repositories,
    repository_blobs,
    scope_maps,
    tokens,
    webhooks,
)

__all__ = ["COUNTED", "RegistryUsage", "RepositoryUsage", "StorageTally", "UsageStore"]

COUNTED = ("repositories", "tokens", "scope_maps", "webhooks")
"""Quotas whose usage is a count of rows (storage is a counter)."""


@dataclass(frozen=True, slots=True)
class RegistryUsage:
    """What a registry uses: bytes of distinct blobs, and how many of each counted thing."""

    storage_bytes: int
    repositories: int
    tokens: int
    scope_maps: int
    webhooks: int = 0

    def used(self, quota: str) -> int:
        """The usage `quota` (`storage_bytes`, `repositories`, ...) is measured against."""
        value = getattr(self, quota)
        assert isinstance(value, int)
        return value


@dataclass(frozen=True, slots=True)
class RepositoryUsage:
    """Bytes of the blobs one repository links (shared layers count in every repository)."""

    name: str
    storage_bytes: int


@dataclass(frozen=True, slots=True)
class StorageTally:
    """A registry's storage figures: its total, per repository, and links per digest."""

    registry_bytes: int
    repository_bytes: dict[str, int] = field(default_factory=dict)
    links: dict[str, int] = field(default_factory=dict)


class UsageStore:
    """Usage of registries and repositories."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def registry_usage(self, registry_id: int) -> RegistryUsage | None:
        """The registry's usage, read in one snapshot; None if there is no such registry."""
        async with self._db.read() as conn:
            storage = await conn.scalar(
                select(registries.c.storage_bytes).where(registries.c.id == registry_id)
            )
            if storage is None:
                return None
            counts = {quota: await _count(conn, registry_id, quota) for quota in COUNTED}
        return RegistryUsage(storage_bytes=int(storage), **counts)

    async def count(self, registry_id: int, quota: str) -> int:
        """How many repositories, tokens or (user) scope maps the registry has."""
        async with self._db.read() as conn:
            return await _count(conn, registry_id, quota)

    async def repository_usage(self, registry_id: int, name: str) -> RepositoryUsage | None:
        """One repository's usage; None if it does not exist."""
        query = select(repositories.c.storage_bytes).where(
            repositories.c.registry_id == registry_id, repositories.c.name == name
        )
        async with self._db.read() as conn:
            storage = await conn.scalar(query)
        return None if storage is None else RepositoryUsage(name, int(storage))

    async def counters(self, registry_id: int) -> StorageTally:
        """The storage counters as stored (what reads and the quota check use)."""
        async with self._db.read() as conn:
            total = await conn.scalar(
                select(registries.c.storage_bytes).where(registries.c.id == registry_id)
            )
            per_repository = (
                await conn.execute(
                    select(repositories.c.name, repositories.c.storage_bytes).where(
                        repositories.c.registry_id == registry_id
                    )
                )
            ).all()
            links = (
                await conn.execute(
                    select(registry_blobs.c.digest, registry_blobs.c.links).where(
                        registry_blobs.c.registry_id == registry_id
                    )
                )
            ).all()
        return StorageTally(
            int(total or 0),
            {row.name: int(row.storage_bytes) for row in per_repository},
            {row.digest: int(row.links) for row in links},
        )

    async def recount(self, registry_id: int) -> StorageTally:
        """The same figures computed from the links: each distinct digest linked anywhere
        in the registry once for its total, every linked digest for its repository."""
        in_registry = repository_blobs.join(
            repositories, repositories.c.id == repository_blobs.c.repository_id
        )
        async with self._db.read() as conn:
            linked = (
                select(repository_blobs.c.digest)
                .select_from(in_registry)
                .where(repositories.c.registry_id == registry_id)
                .distinct()
                .subquery()
            )
            total = await conn.scalar(
                select(func.coalesce(func.sum(blobs.c.size), 0)).join_from(
                    linked, blobs, blobs.c.digest == linked.c.digest
                )
            )
            per_repository = (
                await conn.execute(
                    select(
                        repositories.c.name,
                        func.coalesce(func.sum(blobs.c.size), 0).label("size"),
                    )
                    .select_from(
                        repositories.outerjoin(
                            repository_blobs,
                            repository_blobs.c.repository_id == repositories.c.id,
                        ).outerjoin(blobs, blobs.c.digest == repository_blobs.c.digest)
                    )
                    .where(repositories.c.registry_id == registry_id)
                    .group_by(repositories.c.name)
                )
            ).all()
            links = (
                await conn.execute(
                    select(
                        repository_blobs.c.digest,
                        func.count(distinct(repository_blobs.c.repository_id)).label("links"),
                    )
                    .select_from(in_registry)
                    .where(repositories.c.registry_id == registry_id)
                    .group_by(repository_blobs.c.digest)
                )
            ).all()
        return StorageTally(
            int(total or 0),
            {row.name: int(row.size) for row in per_repository},
            {row.digest: int(row.links) for row in links},
        )


async def _count(conn: ReadConnection, registry_id: int, quota: str) -> int:
    """`COUNT(*)` of the registry's repositories, tokens or user scope maps."""
    if quota == "repositories":
        query = select(func.count()).where(repositories.c.registry_id == registry_id)
    elif quota == "tokens":
        query = select(func.count()).where(tokens.c.registry_id == registry_id)
    elif quota == "scope_maps":
        query = select(func.count()).where(
            scope_maps.c.registry_id == registry_id, scope_maps.c.system.is_(False)
        )
    elif quota == "webhooks":
        query = select(func.count()).where(webhooks.c.registry_id == registry_id)
    else:
        raise ValueError(f"not a counted quota: {quota}")
    return int(await conn.scalar(query) or 0)
