"""ACR's lock flags, checked inside the write transaction of the change they may forbid.

Repositories, manifests and tags each carry `delete_enabled`, `write_enabled`, `read_enabled`
and `list_enabled`. A store that changes something first takes the repository's row lock
(`locked_repository`): every writer that reads or changes flags in a repository takes it, so a
check and the change it allows see the same flags, whichever writer commits first (PostgreSQL
re-reads a row it waited for under READ COMMITTED; SQLite serialises writers anyway).

Stores raise `LockViolation` (or `TagImmutableViolation`, see errors.py); the services turn
them into the errors the API answers with. The exception rolls the transaction back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.errors import LockViolation
from portside.metadata.records import LockFlags
from portside.metadata.repositories import ensure_repository
from portside.metadata.schema import registries, repositories

__all__ = [
    "FLAG_COLUMNS",
    "flags_of",
    "immutable_tags",
    "lock_columns",
    "locked_repository",
    "require",
    "writable_repository",
]

FLAG_COLUMNS = ("delete_enabled", "write_enabled", "read_enabled", "list_enabled")
"""The four flag columns, in LockFlags' field order."""

_BY_NAME = select(repositories.c.id, *(repositories.c[c] for c in FLAG_COLUMNS)).where(
    repositories.c.registry_id == bindparam("registry_id"),
    repositories.c.name == bindparam("name"),
)
_BY_ID = select(repositories.c.id, *(repositories.c[c] for c in FLAG_COLUMNS)).where(
    repositories.c.id == bindparam("id")
)


def lock_columns(table: Table) -> list[Any]:
    """The flag columns of `table`, in LockFlags' field order."""
    return [table.c[column] for column in FLAG_COLUMNS]


def flags_of(row: Row[Any] | tuple[Any, ...], start: int = 0) -> LockFlags:
    """LockFlags from the four values of `row` beginning at index `start`."""
    values = tuple(row)[start : start + 4]
    return LockFlags(*(bool(value) for value in values))


def require(flags: LockFlags, level: str, name: str, *actions: str) -> None:
    """Raise LockViolation unless every action ("write", "delete", "read") is enabled."""
    for action in actions:
        if not getattr(flags, f"{action}_enabled"):
            raise LockViolation(level, name, action)


async def locked_repository(
    conn: AsyncConnection,
    registry_id: int,
    name: str,
    *,
    repo_id: int | None = None,
    shared: bool = False,
) -> tuple[int, LockFlags] | None:
    """The repository's id and flags, its row locked for the rest of the transaction.

    `shared` takes a share lock (writers that only need the flags to stay put, such as blob
    uploads, may run side by side); otherwise the lock is exclusive. None if there is none.
    """
    if repo_id is None:
        query, params = _BY_NAME, {"registry_id": registry_id, "name": name}
    else:
        query, params = _BY_ID, {"id": repo_id}
    row = (await conn.execute(query.with_for_update(read=shared), params)).first()
    if row is None:
        return None
    return int(row[0]), flags_of(row, 1)


async def immutable_tags(conn: AsyncConnection, registry_id: int) -> bool:
    """Whether the registry forbids moving a tag, read inside the caller's transaction."""
    value = await conn.scalar(
        select(registries.c.immutable_tags).where(registries.c.id == registry_id)
    )
    return bool(value)


async def writable_repository(
    conn: AsyncConnection, registry_id: int, name: str, *, shared: bool = False
) -> int:
    """The repository's id (created if missing), its row locked (`locked_repository`) and
    checked writable; raises LockViolation if it is not.

    One statement when the repository exists, as on every push but its first: the lock's
    SELECT finds the row by name, instead of looking its id up first (a round trip on
    PostgreSQL, and three per image push).
    """
    locked = await locked_repository(conn, registry_id, name, shared=shared)
    if locked is None:
        repo_id = await ensure_repository(conn, registry_id, name)
        locked = await locked_repository(conn, registry_id, name, repo_id=repo_id, shared=shared)
        assert locked is not None
    require(locked[1], "repository", name, "write")
    return locked[0]
