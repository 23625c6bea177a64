"""Two writers, one row: INSERT ... ON CONFLICT in either dialect, and retrying a lost race.

Stores never "select, then insert if missing": under PostgreSQL's READ COMMITTED two transactions
both see nothing and both insert, and one of them fails on the unique key. Instead they insert
with ON CONFLICT DO NOTHING (the loser waits for the winner to commit, then skips the row and
selects the winner's) or ON CONFLICT DO UPDATE (the row lock orders the writers; the last one
wins and exactly one row remains). SQLite serialises writers (BEGIN IMMEDIATE), so there the same
statements simply never meet a concurrent writer.

Whatever remains — a deadlock the server broke, a row deleted between our read and our write —
fails the whole transaction with an error that `retry_on_conflict` recognises by its SQLSTATE and
runs again from the start, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from sqlalchemy import Insert, Table, or_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

__all__ = [
    "IgnoringInserts",
    "insert_or_ignore",
    "insert_or_update",
    "lost_race",
    "retry_on_conflict",
]

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)

ATTEMPTS = 5
_BACKOFF_SECONDS = 0.005
# PostgreSQL SQLSTATEs that mean "another transaction got there first; run yours again":
# serialization_failure, deadlock_detected, unique_violation, foreign_key_violation.
_LOST_RACE = frozenset({"40001", "40P01", "23505", "23503"})


def _insert(conn: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    # The dialect's module only: SQLAlchemy's PostgreSQL dialect (~2 MiB resident) is not
    # loaded by a process on SQLite, nor the SQLite one on PostgreSQL.
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise NotImplementedError(f"no ON CONFLICT support written for the {name} dialect")


def insert_or_ignore(conn: AsyncConnection, table: Table, keys: Sequence[str]) -> Insert:
    """An INSERT into `table` that skips rows whose unique `keys` already exist."""
    return _insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))


class IgnoringInserts:
    """`insert_or_ignore` built once per dialect, without values: a statement on a hot path
    takes its row as execute() parameters, so it is neither built nor compiled again."""

    __slots__ = ("_by_dialect", "_keys", "_table")

    def __init__(self, table: Table, keys: Sequence[str]) -> None:
        self._table = table
        self._keys = list(keys)
        # Built on first use per dialect: the dialect modules are loaded only when needed.
        self._by_dialect: dict[str, Insert] = {}

    def on(self, conn: AsyncConnection) -> Insert:
        """The statement for `conn`'s dialect."""
        statement = self._by_dialect.get(conn.dialect.name)
        if statement is None:
            statement = _insert(conn, self._table).on_conflict_do_nothing(index_elements=self._keys)
            self._by_dialect[conn.dialect.name] = statement
        return statement


def insert_or_update(
    conn: AsyncConnection,
    table: Table,
    keys: Sequence[str],
    update: Sequence[str],
    when_changed: Sequence[str],
) -> Insert:
    """An INSERT into `table` that, on a row with the same `keys`, sets its `update` columns.

    The existing row is only rewritten if one of its `when_changed` columns differs, so that
    pushing the same thing twice changes nothing (not even a timestamp).
    """
    statement = _insert(conn, table)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={column: new[column] for column in update},
        where=or_(*(table.c[column].is_distinct_from(new[column]) for column in when_changed)),
    )


def lost_race(exc: DBAPIError) -> bool:
    """True if the database failed the transaction because a concurrent one won a race."""
    return getattr(exc.orig, "sqlstate", None) in _LOST_RACE


def retry_on_conflict(operation: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run a store method (one whole write transaction) again when it lost a race.

    The transaction was rolled back, so running it again is safe; it sees the winner's rows.
    After ATTEMPTS tries the last error propagates.
    """

    @functools.wraps(operation)
    async def retrying(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await operation(*args, **kwargs)
            except DBAPIError as exc:
                if attempt == ATTEMPTS or not lost_race(exc):
                    raise
                log.debug("%s lost a race (attempt %d): %s", operation.__qualname__, attempt, exc)
            # Jittered, growing pause so that the same writers do not collide again in lockstep.
            await asyncio.sleep(random.uniform(0, _BACKOFF_SECONDS * 2**attempt))
        raise AssertionError("unreachable")

    return retrying
