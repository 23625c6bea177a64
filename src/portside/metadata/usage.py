"""Storage used per registry and per repository, kept exact as blobs are linked and unlinked.

Every change to `repository_blobs` goes through `link_blob`, `unlink_blob`, `unlink_blobs` or
`unlink_repository`, inside the caller's write transaction, so the counters change in the same
commit as the links:

- `repositories.storage_bytes`: the sizes of the blobs the repository links;
- `registry_blobs.links`: how many repositories of the registry link a blob, and
  `registries.storage_bytes`: the sizes of the blobs linked at least once in the registry (a
  layer shared by ten repositories counts once).

The storage quota is checked by the same statement that adds to the registry's total
(`UPDATE ... WHERE storage_bytes + size <= quota`), so concurrent pushes cannot overshoot it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import IgnoringInserts
from portside.metadata.errors import QuotaViolation
from portside.metadata.schema import (
    blobs,
    registries,
    registry_blobs,
    repositories,
    repository_blobs,
)

__all__ = [
    "SKU_LIMITS",
    "effective_limit",
    "link_blob",
    "read_limit",
    "unlink_blob",
    "unlink_blobs",
    "unlink_repository",
]

GIB = 1 << 30

# Per-SKU defaults, as ACR's service tiers (storage included, webhooks, tokens and scope
# maps); None is unlimited. A registry's own `quota_*` columns override them.
SKU_LIMITS: Mapping[str, Mapping[str, int | None]] = MappingProxyType(
    {
        "Basic": MappingProxyType(
            {
                "storage_bytes": 10 * GIB,
                "repositories": None,
                "webhooks": 2,
                "tokens": 100,
                "scope_maps": 100,
            }
        ),
        "Standard": MappingProxyType(
            {
                "storage_bytes": 100 * GIB,
                "repositories": None,
                "webhooks": 10,
                "tokens": 500,
                "scope_maps": 500,
            }
        ),
        "Premium": MappingProxyType(
            {
                "storage_bytes": 500 * GIB,
                "repositories": None,
                "webhooks": 500,
                "tokens": 50_000,
                "scope_maps": 50_000,
            }
        ),
    }
)


def effective_limit(sku: str, override: int | None, quota: str) -> int | None:
    """The registry's limit for `quota`: its override, else its SKU's default."""
    if override is not None:
        return override
    return SKU_LIMITS.get(sku, SKU_LIMITS["Standard"]).get(quota)


async def read_limit(
    conn: AsyncConnection, registry_id: int, quota: str, *, lock: bool = False
) -> int | None:
    """The registry's limit for `quota` (`effective_limit` of its row's SKU and override),
    its row locked FOR UPDATE first with `lock`."""
    query = select(registries.c.sku, registries.c[f"quota_{quota}"]).where(
        registries.c.id == registry_id
    )
    row = (await conn.execute(query.with_for_update() if lock else query)).one()
    return effective_limit(row[0], row[1], quota)


# link_blob's statements run for every blob pushed: built once, values bound at execute().
_NEW_LINK = IgnoringInserts(repository_blobs, ("repository_id", "digest"))
_NEW_IN_REGISTRY = IgnoringInserts(registry_blobs, ("registry_id", "digest"))
_REVIVE = (
    update(blobs)
    .where(blobs.c.digest == bindparam("l_digest"), blobs.c.doomed_at.is_not(None))
    .values(doomed_at=None)
)
_ADD_TO_REPOSITORY = (
    update(repositories)
    .where(repositories.c.id == bindparam("l_repository_id"))
    .values(storage_bytes=repositories.c.storage_bytes + bindparam("l_size", type_=BigInteger))
)
_ONE_MORE_LINK = (
    update(registry_blobs)
    .where(
        registry_blobs.c.registry_id == bindparam("l_registry_id"),
        registry_blobs.c.digest == bindparam("l_digest"),
    )
    .values(links=registry_blobs.c.links + 1)
)


def _storage_limit() -> ColumnElement[Any]:
    """effective_limit(sku, quota_storage_bytes, "storage_bytes") in SQL (NULL: none)."""
    by_sku = {sku: limits["storage_bytes"] for sku, limits in SKU_LIMITS.items()}
    return func.coalesce(
        registries.c.quota_storage_bytes,
        case(by_sku, value=registries.c.sku, else_=literal(by_sku["Standard"], BigInteger)),
    )


# The quota check and the addition in one statement: it adds only while the total fits.
_LIMIT = _storage_limit()
_ADD_TO_REGISTRY = (
    update(registries)
    .where(
        registries.c.id == bindparam("l_registry_id"),
        or_(
            _LIMIT.is_(None),
            registries.c.storage_bytes + bindparam("l_size", type_=BigInteger) <= _LIMIT,
        ),
    )
    .values(storage_bytes=registries.c.storage_bytes + bindparam("l_size", type_=BigInteger))
)


async def link_blob(
    conn: AsyncConnection,
    registry_id: int,
    repository_id: int,
    digest: str,
    size: int,
    *,
    revive: bool = True,
) -> bool:
    """Link a blob into a repository (idempotent); True if the link is new.

    `revive`: the blob's row may be doomed by the collector (False only for a row this
    transaction has just inserted). Raises QuotaViolation (and the caller's transaction rolls
    back) if the blob is new to the registry and would take it past its storage quota.
    """
    now = utcnow()
    added = await conn.execute(
        _NEW_LINK.on(conn),
        {"repository_id": repository_id, "digest": digest, "created_at": now, "touched_at": now},
    )
    if not added.rowcount:
        return False
    params = {
        "l_registry_id": registry_id,
        "l_repository_id": repository_id,
        "l_digest": digest,
        "l_size": size,
    }
    if revive:
        # A new link revives a blob the collector had doomed.
        await conn.execute(_REVIVE, params)
    await conn.execute(_ADD_TO_REPOSITORY, params)
    first = await conn.execute(
        _NEW_IN_REGISTRY.on(conn), {"registry_id": registry_id, "digest": digest, "links": 1}
    )
    if not first.rowcount:
        await conn.execute(_ONE_MORE_LINK, params)
        return True
    if not (await conn.execute(_ADD_TO_REGISTRY, params)).rowcount:
        limit = await read_limit(conn, registry_id, "storage_bytes")
        raise QuotaViolation(
            "storage_bytes",
            limit or 0,
            f"storage quota of {limit} bytes exceeded: this blob of {size} bytes does not fit",
        )
    return True


async def unlink_blob(
    conn: AsyncConnection, registry_id: int, repository_id: int, digest: str
) -> bool:
    """Remove a repository's link to a blob (the bytes stay for the collector); True if
    there was one."""
    size = await conn.scalar(select(blobs.c.size).where(blobs.c.digest == digest))
    removed = await conn.execute(
        delete(repository_blobs).where(
            and_(
                repository_blobs.c.repository_id == repository_id,
                repository_blobs.c.digest == digest,
            )
        )
    )
    if not removed.rowcount or size is None:
        return bool(removed.rowcount)
    await conn.execute(
        update(repositories)
        .where(repositories.c.id == repository_id)
        .values(storage_bytes=repositories.c.storage_bytes - size)
    )
    await _release(conn, registry_id, {digest: int(size)})
    return True


async def unlink_blobs(
    conn: AsyncConnection, registry_id: int, repository_id: int, sizes: Mapping[str, int]
) -> Sequence[str]:
    """Remove a repository's links to many blobs (`sizes`: digest → blob size) in a fixed
    number of statements, whatever their count; the digests whose link was removed.

    The counters change by exactly the links the DELETE removed (its RETURNING), so a digest
    that was not linked costs nothing. The collector removes dead links in batches through this:
    `unlink_blob` runs its handful of statements per link.
    """
    if not sizes:
        return []
    removed = (
        await conn.scalars(
            delete(repository_blobs)
            .where(
                repository_blobs.c.repository_id == repository_id,
                repository_blobs.c.digest.in_(list(sizes)),
            )
            .returning(repository_blobs.c.digest)
        )
    ).all()
    if not removed:
        return []
    await conn.execute(
        update(repositories)
        .where(repositories.c.id == repository_id)
        .values(storage_bytes=repositories.c.storage_bytes - sum(sizes[d] for d in removed))
    )
    await _release(conn, registry_id, {digest: sizes[digest] for digest in removed})
    return removed


async def unlink_repository(conn: AsyncConnection, registry_id: int, repository_id: int) -> None:
    """Release every link of a repository about to be deleted (its rows go by cascade)."""
    rows = (
        await conn.execute(
            select(repository_blobs.c.digest, blobs.c.size)
            .join(blobs, blobs.c.digest == repository_blobs.c.digest)
            .where(repository_blobs.c.repository_id == repository_id)
        )
    ).all()
    await conn.execute(
        delete(repository_blobs).where(repository_blobs.c.repository_id == repository_id)
    )
    await conn.execute(
        update(repositories).where(repositories.c.id == repository_id).values(storage_bytes=0)
    )
    await _release(conn, registry_id, {row.digest: int(row.size) for row in rows})


async def _release(conn: AsyncConnection, registry_id: int, sizes: dict[str, int]) -> None:
    """One link fewer in the registry for each digest; the last one frees its bytes."""
    if not sizes:
        return
    where = and_(
        registry_blobs.c.registry_id == registry_id, registry_blobs.c.digest.in_(list(sizes))
    )
    await conn.execute(update(registry_blobs).where(where).values(links=registry_blobs.c.links - 1))
    gone = (
        await conn.scalars(
            select(registry_blobs.c.digest).where(where, registry_blobs.c.links <= 0)
        )
    ).all()
    if not gone:
        return
    await conn.execute(
        delete(registry_blobs).where(
            registry_blobs.c.registry_id == registry_id, registry_blobs.c.digest.in_(gone)
        )
    )
    freed = sum(sizes[digest] for digest in gone)
    await conn.execute(
        update(registries)
        .where(registries.c.id == registry_id)
        .values(storage_bytes=registries.c.storage_bytes - freed)
    )
