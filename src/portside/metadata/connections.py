"""What a store may run statements on in a read transaction, and SQLite's in-loop reads.

`Database.read()` yields a `ReadConnection`: on PostgreSQL an AsyncConnection, on SQLite an
`InLoopConnection`, a synchronous connection answered in the event loop's thread (database.py
says why). Both run the same statements with the same typed results. Helpers that only read
take a ReadConnection, so that they run in either kind of transaction; helpers that lock rows
or write take the AsyncConnection of `Database.write()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar, TypeVarTuple, overload

from sqlalchemy import Connection, Executable, Result, ScalarResult
from sqlalchemy.sql.selectable import TypedReturnsRows

__all__ = ["InLoopConnection", "Parameters", "ReadConnection"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

Parameters = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
"""Bound values for one statement, or a list of them for an executemany."""


class ReadConnection(Protocol):
    """The awaitable statement surface stores use for reads (AsyncConnection has it)."""

    @overload
    async def execute(
        self, statement: TypedReturnsRows[*Ts], parameters: Parameters = None, /
    ) -> Result[*Ts]: ...
    @overload
    async def execute(
        self, statement: Executable, parameters: Parameters = None, /
    ) -> Result[*tuple[Any, ...]]: ...

    @overload
    async def scalar(
        self, statement: TypedReturnsRows[T], parameters: Mapping[str, Any] | None = None, /
    ) -> T | None: ...
    @overload
    async def scalar(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None, /
    ) -> Any: ...

    @overload
    async def scalars(
        self, statement: TypedReturnsRows[T], parameters: Parameters = None, /
    ) -> ScalarResult[T]: ...
    @overload
    async def scalars(
        self, statement: Executable, parameters: Parameters = None, /
    ) -> ScalarResult[Any]: ...

    async def exec_driver_sql(self, statement: str, /) -> Result[*tuple[Any, ...]]:
        """Run literal SQL."""
        ...


class InLoopConnection:
    """A synchronous SQLite connection behind ReadConnection's awaitable methods."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(
        self, statement: Executable, parameters: Parameters = None, /
    ) -> Result[*tuple[Any, ...]]:
        """Run a statement; its rows."""
        return self._conn.execute(statement, parameters)

    async def scalar(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None, /
    ) -> Any:
        """Run a statement; the first column of its first row, or None."""
        return self._conn.scalar(statement, parameters)

    async def scalars(
        self, statement: Executable, parameters: Parameters = None, /
    ) -> ScalarResult[Any]:
        """Run a statement; the first column of its rows."""
        return self._conn.scalars(statement, parameters)

    async def exec_driver_sql(self, statement: str, /) -> Result[*tuple[Any, ...]]:
        """Run literal SQL."""
        return self._conn.exec_driver_sql(statement)
