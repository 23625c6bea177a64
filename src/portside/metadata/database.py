"""Engines and transactions. Stores ask for `read()` or `write()` connections from here.

SQLite (the embedded default) runs in WAL mode so readers never wait for the writer. Write
transactions there start with BEGIN IMMEDIATE: a deferred transaction that later upgrades to a
write lock fails at once with "database is locked" when another process committed in between,
while IMMEDIATE waits (busy_timeout) for its turn. Reads use a separate engine whose
transactions stay deferred, so reads never queue behind writes. On PostgreSQL both are one engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

__all__ = ["Database"]

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


class Database:
    """A pair of engines (read, write) over one database URL."""

    def __init__(self, url: str, *, pool_size: int = 5, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            self._write = _sqlite_engine(url, immediate=True, echo=echo)
            self._read = _sqlite_engine(url, immediate=False, echo=echo)
        else:
            self._write = create_async_engine(
                url, pool_size=pool_size, pool_pre_ping=True, echo=echo
            )
            self._read = self._write

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a write transaction, committed on success."""
        async with self._write.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a read-only transaction (a consistent snapshot)."""
        async with self._read.connect() as conn, conn.begin():
            yield conn

    @property
    def engine(self) -> AsyncEngine:
        """The write engine, for migrations and administration."""
        return self._write

    async def ping(self) -> None:
        """Run a trivial query; raises if the database is unreachable."""
        async with self.read() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        """Dispose of both engines."""
        await self._write.dispose()
        if self._read is not self._write:
            await self._read.dispose()


def _sqlite_engine(url: str, *, immediate: bool, echo: bool) -> AsyncEngine:
    engine = create_async_engine(url, echo=echo)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
