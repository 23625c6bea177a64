"""Engines and transactions. Stores ask for `read()` or `write()` connections from here.

The backend follows the URL: `sqlite+aiosqlite:///path` (the embedded default) or
`postgresql+asyncpg://user:password@host/db` (scale-out: many processes share one database).

SQLite runs in WAL mode so readers never wait for the writer. Write transactions there start with
BEGIN IMMEDIATE: a deferred transaction that later upgrades to a write lock fails at once with
"database is locked" when another process committed in between, while IMMEDIATE waits
(busy_timeout) for its turn. Reads use a separate engine whose transactions stay deferred, so
reads never queue behind writes. Reads do not even leave the event loop's thread: a read
transaction on a WAL database never waits for a lock and answers from the page cache in
microseconds, while a hop to aiosqlite's thread and back costs a wake-up of the event loop per
statement (BEGIN, SELECT, fetch, COMMIT) — measured at ~1.6 ms per manifest GET against
~0.2 ms in the loop. Writes, which may wait on busy_timeout, stay on aiosqlite's thread.

PostgreSQL has one connection pool. Writes run under READ COMMITTED, whatever the server's
default: each statement sees what concurrent transactions committed before it, which is what lets
an `INSERT ... ON CONFLICT DO NOTHING` that lost a race select the winner's row (see conflicts.py).
Reads run as READ ONLY, REPEATABLE READ transactions, so a read of several statements sees one
snapshot, as it does on SQLite.

Every engine hides statement parameters (`hide_parameters`): they carry argon2 hashes, secrets
and refresh-token ids, and SQLAlchemy would otherwise write them in its echo and debug logs and
in the text of every database error, which ends up in the server's log.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from portside.metadata.connections import InLoopConnection, ReadConnection

__all__ = ["Database", "TransactionObserver", "async_url"]

TransactionObserver = Callable[[str, float], None]
"""Called after each transaction with its kind ("read" or "write") and its seconds (the wait
for a connection included): the timing hook the composition root feeds into metrics."""

# busy_timeout first: switching to WAL takes a lock, and workers that start together would
# otherwise fail at once with "database is locked" instead of waiting their turn.
_SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout=30000",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)
# asyncpg rather than psycopg 3: it is the driver SQLAlchemy's asyncio support is written and
# tested against first, it speaks the binary protocol with prepared statements cached per
# connection (the stores run the same few statements all day), and it starts transactions with
# the isolation level and READ ONLY flag in the BEGIN itself, without a SET round trip.
# Behind PgBouncer in transaction mode, add `?prepared_statement_cache_size=0` to the URL.
_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


def async_url(url: str) -> URL:
    """`url` with the async driver filled in when only the backend is named (`postgresql://`)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: Portside runs on SQLite or PostgreSQL")
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=f"{backend}+{_ASYNC_DRIVERS[backend]}")
    return parsed


class Database:
    """A pair of engines (read, write) over one database URL."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: float = 30.0,
        pool_recycle: float = 1800.0,
        echo: bool = False,
        observe: TransactionObserver | None = None,
    ) -> None:
        parsed = async_url(url)
        self.url = url
        self._observe = observe
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._loop_reads: Engine | None = None
        if self.is_sqlite:
            self._write = create_async_engine(parsed, echo=echo, hide_parameters=True)
            _configure_sqlite(self._write.sync_engine, immediate=True)
            self._read = self._write
            self._loop_reads = create_engine(
                parsed.set(drivername="sqlite"), echo=echo, hide_parameters=True
            )
            _configure_sqlite(self._loop_reads, immediate=False)
            return
        # Each process holds at most pool_size + max_overflow connections: size them so that
        # processes x that stays below the server's max_connections. pool_recycle retires
        # connections before idle timeouts in proxies and load balancers cut them.
        self._write = create_async_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=pool_recycle,
            pool_pre_ping=True,
            isolation_level="READ COMMITTED",
            echo=echo,
            hide_parameters=True,
            connect_args=_connect_args(parsed),
        )
        # Same pool; connections checked out through this view begin READ ONLY transactions.
        self._read = self._write.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a write transaction, committed on success.

        Store methods that write are wrapped in `conflicts.retry_on_conflict`, which runs the
        whole method (and so this transaction) again if it lost a race to a concurrent writer.
        """
        started = time.perf_counter()
        try:
            async with self._write.begin() as conn:
                yield conn
        finally:
            if self._observe is not None:
                self._observe("write", time.perf_counter() - started)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ReadConnection]:
        """A connection inside a read-only transaction (a consistent snapshot)."""
        started = time.perf_counter()
        try:
            if self._loop_reads is not None:
                with self._loop_reads.connect() as sync_conn, sync_conn.begin():
                    yield InLoopConnection(sync_conn)
                return
            async with self._read.connect() as conn, conn.begin():
                yield conn
        finally:
            if self._observe is not None:
                self._observe("read", time.perf_counter() - started)

    @property
    def engine(self) -> AsyncEngine:
        """The write engine, for migrations and administration."""
        return self._write

    async def ping(self) -> None:
        """Run a trivial query; raises if the database is unreachable."""
        async with self.read() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        """Dispose of the engines and every pooled connection."""
        await self._write.dispose()
        if self._loop_reads is not None:
            self._loop_reads.dispose()


def _connect_args(url: URL) -> dict[str, Any]:
    if url.get_driver_name() == "asyncpg":
        # Names our sessions in pg_stat_activity.
        return {"server_settings": {"application_name": "portside"}}
    return {}


def _configure_sqlite(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
