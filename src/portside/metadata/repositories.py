"""Repositories and registries: lookup, creation on first push, listing."""

from __future__ import annotations

import secrets

from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore
from portside.metadata.connections import ReadConnection
from portside.metadata.database import Database
from portside.metadata.errors import QuotaViolation
from portside.metadata.records import RegistryRecord
from portside.metadata.registries import RegistryStore
from portside.metadata.schema import manifests, registries, repositories
from portside.metadata.usage import read_limit

__all__ = ["RepositoryStore", "ensure_repository"]

# Statements on every request's path, built once (every name is > "", so an empty `last`
# starts at the beginning).
_ID = select(repositories.c.id).where(
    repositories.c.registry_id == bindparam("registry_id"),
    repositories.c.name == bindparam("name"),
)
# A repository is listed while it holds a manifest (tagged or not), as distribution lists the
# repositories that have manifests and ACR those with content: the row itself stays (it carries
# the repository's lock flags and settings, and removing it would race pushes and the
# collector), so a push begun and cancelled leaves nothing in any listing.
_HAS_CONTENT = exists().where(manifests.c.repository_id == repositories.c.id)
_PAGE = (
    select(repositories.c.name)
    .where(
        repositories.c.registry_id == bindparam("registry_id"),
        repositories.c.name > bindparam("last"),
        repositories.c.list_enabled,
        _HAS_CONTENT,
    )
    .order_by(repositories.c.name)
    .limit(bindparam("limit"))
)


class RepositoryStore:
    """Registries and the repositories inside them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure_registry(self, name: str) -> RegistryRecord:
        """Return the registry called `name`, creating it if needed."""
        registry, _ = await RegistryStore(self._db).ensure(name)
        return registry

    async def exists(self, registry_id: int, name: str) -> bool:
        """True if the repository exists in the registry."""
        async with self._db.read() as conn:
            return await repository_id(conn, registry_id, name) is not None

    async def list_names(self, registry_id: int, last: str | None, limit: int) -> list[str]:
        """Listable repository names (list-enabled, holding a manifest) in lexical order,
        after `last`, at most `limit`."""
        params = {"registry_id": registry_id, "last": last or "", "limit": limit}
        async with self._db.read() as conn:
            return list((await conn.scalars(_PAGE, params)).all())


async def repository_id(conn: ReadConnection, registry_id: int, name: str) -> int | None:
    """The id of a repository, or None."""
    return await conn.scalar(_ID, {"registry_id": registry_id, "name": name})


async def ensure_repository(conn: AsyncConnection, registry_id: int, name: str) -> int:
    """The id of a repository, created if missing, inside the caller's write transaction.

    Raises QuotaViolation (the caller's transaction then rolls back) if the registry already
    has as many repositories as its quota allows.
    """
    found = await repository_id(conn, registry_id, name)
    if found is not None:
        return found
    await _require_room(conn, registry_id)
    now = utcnow()
    # The tag-list version starts at a random point: a repository deleted and created again
    # under the same name must not meet a tag page cached (by any process) for the old one.
    version = secrets.randbits(62)
    # A concurrent first push to the same repository makes this insert wait for the other
    # transaction; when that one commits, nothing is inserted and the select below (a new
    # statement, so a new READ COMMITTED snapshot) finds its row.
    new_id = await conn.scalar(
        insert_or_ignore(conn, repositories, ("registry_id", "name"))
        .values(
            registry_id=registry_id, name=name, created_at=now, updated_at=now, tags_version=version
        )
        .returning(repositories.c.id)
    )
    if new_id is None:
        new_id = await repository_id(conn, registry_id, name)
    assert new_id is not None
    return int(new_id)


async def _require_room(conn: AsyncConnection, registry_id: int) -> None:
    """Refuse a new repository in a registry at its repositories quota.

    Only when there is a limit, the registry's row is locked first (FOR UPDATE; SQLite
    serializes writers anyway), so two first pushes to new names cannot both take the last
    place.
    """
    limit = await read_limit(conn, registry_id, "repositories")
    if limit is None:
        return
    await conn.execute(
        select(registries.c.id).where(registries.c.id == registry_id).with_for_update()
    )
    count = await conn.scalar(select(func.count()).where(repositories.c.registry_id == registry_id))
    if int(count or 0) >= limit:
        raise QuotaViolation(
            "repositories",
            limit,
            f"repositories quota of {limit} reached: the registry cannot hold another repository",
        )


async def bump_tags_version(conn: AsyncConnection, repo_id: int) -> None:
    """Mark the repository's tag list as changed, inside the caller's write transaction."""
    await conn.execute(
        update(repositories)
        .where(repositories.c.id == repo_id)
        .values(tags_version=repositories.c.tags_version + 1, updated_at=utcnow())
    )
