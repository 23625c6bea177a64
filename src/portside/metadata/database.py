"""Engines and transactions. Stores ask for `read()` or `write()` connections from here.

The backend follows the URL: `sqlite+aiosqlite:///path` (the embedded default) or
`postgresql+asyncpg://user:password@host/db` (scale-out: many processes share one database).

SQLite runs in WAL mode so readers never wait for the writer. Write transactions there start with
BEGIN IMMEDIATE: a deferred transaction that later upgrades to a write lock fails at once with
"database is locked" when another process committed in between, while IMMEDIATE waits
(busy_timeout) for its turn. Before that, writers queue first come, first served for their turn
(write_turns.py), so that SQLite's busy handler, which polls, is not what orders them. Reads use
a separate engine whose transactions stay deferred, so reads never queue behind writes. Reads do
not even leave the event loop's thread: a read transaction on a WAL database never waits for a
lock and answers from the page cache in microseconds, while a hop to aiosqlite's thread and back
costs a wake-up of the event loop per statement (BEGIN, SELECT, fetch, COMMIT) — measured at
~1.6 ms per manifest GET against ~0.2 ms in the loop. Writes, which may wait on busy_timeout,
begin and commit on aiosqlite's thread; their statements, which hold the lock and do not wait,
run in the loop (sqlite_writes.py).

PostgreSQL has one connection pool. Writes run under READ COMMITTED, whatever the server's
default: each statement sees what concurrent transactions committed before it, which is what lets
an `INSERT ... ON CONFLICT DO NOTHING` that lost a race select the winner's row (see conflicts.py).
Reads run as READ ONLY, REPEATABLE READ transactions, so a read of several statements sees one
snapshot, as it does on SQLite.

A lost database (a refused connection, a connection cut mid-transaction, a server shutting down,
a pool that stays exhausted) leaves `read()` and `write()` as `DatabaseUnavailable`, whatever
the driver raised, so that the HTTP layer answers 503 with Retry-After rather than 500 and a
traceback. Only those: a constraint violation or an SQL error stays what it is (a bug or a race
that conflicts.py handles). SQLite's "database is locked" is not one of them (busy_timeout waits
for it, and past that it is a conflict, not an outage).

A PostgreSQL node may also be given a streaming read replica (`read_url`, a hot standby of the
primary; docs/geo-replication.md). Two kinds of reads go there: `read(lag_safe=True)`, which
the stores ask for only where a replica's lag cannot give a wrong answer (immutable rows looked
up by digest; on a miss they ask again without it), and every read while the primary is lost,
so that pulls go on (stale tags rather than none). A primary that failed is skipped for a few
seconds before it is tried again, so a lost primary costs one failed connect, not one per read.
Writes always go to the primary, and fail with DatabaseUnavailable while it is lost.

Every engine hides statement parameters (`hide_parameters`): they carry argon2 hashes, secrets
and refresh-token ids, and SQLAlchemy would otherwise write them in its echo and debug logs and
in the text of every database error, which ends up in the server's log.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from portside.metadata.connections import InLoopConnection, ReadConnection
from portside.metadata.errors import DatabaseUnavailable
from portside.metadata.sqlite_writes import connect_for_writes, statements_on_thread
from portside.metadata.write_turns import WriteTurns

__all__ = ["Database", "TransactionObserver", "async_url", "shown_url", "unavailable_reason"]

log = logging.getLogger("portside.metadata")

_PRIMARY_RETRY_SECONDS = 5.0
"""How long reads go straight to the replica after the primary failed to answer."""

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


def shown_url(url: str) -> str:
    """`url` as it may be logged or printed: its password, if any, replaced by `***`."""
    return make_url(url).render_as_string(hide_password=True)


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
        read_url: str | None = None,
    ) -> None:
        parsed = async_url(url)
        self.url = url
        self._observe = observe
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._loop_reads: Engine | None = None
        self._replica: AsyncEngine | None = None
        self._primary_lost_until = 0.0
        self._turns: WriteTurns | None = None
        if read_url is not None and (
            self.is_sqlite or async_url(read_url).get_backend_name() != "postgresql"
        ):
            raise ValueError("a read replica (database_read_url) needs PostgreSQL on both sides")
        if self.is_sqlite:
            path = _database_file(parsed)
            # A file's write connections run their statements in the loop (sqlite_writes.py).
            loop_first = {} if path is None else {"async_creator": connect_for_writes(path)}
            self._write = create_async_engine(parsed, echo=echo, hide_parameters=True, **loop_first)
            _configure_sqlite(self._write.sync_engine, immediate=True)
            self._turns = WriteTurns(path)
            self._read = self._write
            self._loop_reads = create_engine(
                parsed.set(drivername="sqlite"), echo=echo, hide_parameters=True
            )
            _configure_sqlite(self._loop_reads, immediate=False)
            return
        # Each process holds at most pool_size + max_overflow connections: size them so that
        # processes x that stays below the server's max_connections. pool_recycle retires
        # connections before idle timeouts in proxies and load balancers cut them.
        pool = {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout": pool_timeout,
            "pool_recycle": pool_recycle,
            "pool_pre_ping": True,
            "echo": echo,
            "hide_parameters": True,
        }
        self._write = create_async_engine(
            parsed,
            isolation_level="READ COMMITTED",
            connect_args=_connect_args(parsed),
            **pool,
        )
        # Same pool; connections checked out through this view begin READ ONLY transactions.
        self._read = self._write.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        if read_url is not None:
            # A hot standby runs READ ONLY transactions up to REPEATABLE READ.
            replica_url = async_url(read_url)
            self._replica = create_async_engine(
                replica_url,
                isolation_level="REPEATABLE READ",
                connect_args=_connect_args(replica_url),
                **pool,
            ).execution_options(postgresql_readonly=True)

    @asynccontextmanager
    async def write(self, *, bulk: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection inside a write transaction, committed on success.

        Store methods that write are wrapped in `conflicts.retry_on_conflict`, which runs the
        whole method (and so this transaction) again if it lost a race to a concurrent writer.
        `bulk` marks a transaction whose statements may each run long (the collector's): on
        SQLite they then run on the connection's thread, not in the event loop's
        (sqlite_writes.py).
        """
        started = time.perf_counter()
        try:
            with statements_on_thread() if bulk else contextlib.nullcontext():
                async with self._turn(), self._write.begin() as conn:
                    yield conn
        except (OSError, sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            _raise_if_lost(exc)
            raise
        finally:
            if self._observe is not None:
                self._observe("write", time.perf_counter() - started)

    def _turn(self) -> contextlib.AbstractAsyncContextManager[None]:
        """On SQLite, wait for this writer's turn at the write lock (write_turns.py)."""
        if self._turns is None:
            return contextlib.nullcontext()
        return self._turns.turn()

    @property
    def has_replica(self) -> bool:
        """Whether reads may be answered by a read replica (`read_url`)."""
        return self._replica is not None

    @asynccontextmanager
    async def read(self, *, lag_safe: bool = False) -> AsyncIterator[ReadConnection]:
        """A connection inside a read-only transaction (a consistent snapshot).

        `lag_safe`: the caller's answer cannot be wrong on a replica that lags (it looks up
        immutable rows and asks again without `lag_safe` on a miss), so the replica may serve it.
        """
        started = time.perf_counter()
        try:
            if self._loop_reads is not None:
                with self._loop_reads.connect() as sync_conn, sync_conn.begin():
                    yield InLoopConnection(sync_conn)
                return
            conn = await self._connect_for_read(lag_safe)
            try:
                async with conn.begin():
                    yield conn
            finally:
                await conn.close()
        except (OSError, sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            _raise_if_lost(exc)
            raise
        finally:
            if self._observe is not None:
                self._observe("read", time.perf_counter() - started)

    async def _connect_for_read(self, lag_safe: bool) -> AsyncConnection:
        """A started connection to the primary, or to the replica when allowed or needed."""
        replica = self._replica
        if replica is None or not (lag_safe or time.monotonic() < self._primary_lost_until):
            try:
                return await self._read.connect().start()
            except (OSError, sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
                reason = unavailable_reason(exc)
                if replica is None or reason is None:
                    raise
                if time.monotonic() >= self._primary_lost_until:
                    log.warning(
                        "primary database unavailable (%s): reading from the replica", reason
                    )
                self._primary_lost_until = time.monotonic() + _PRIMARY_RETRY_SECONDS
        return await replica.connect().start()

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
        if self._replica is not None:
            await self._replica.dispose()
        if self._loop_reads is not None:
            self._loop_reads.dispose()
        if self._turns is not None:
            self._turns.close()


# SQLSTATEs of a lost server: class 08 (connection exception), and a server that is shutting
# down, crashed, or not accepting connections yet (57P01..57P03).
_LOST_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def unavailable_reason(exc: BaseException) -> str | None:
    """Why `exc` means the database is lost (not a bad statement), or None when it does not."""
    if isinstance(exc, OSError):
        # asyncpg's connect raises these unwrapped: refused, unreachable, timed out.
        return exc.strerror or type(exc).__name__
    if isinstance(exc, sa_exc.TimeoutError):
        return "no connection free in the pool"
    if isinstance(exc, sa_exc.DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        if exc.connection_invalidated or sqlstate.startswith(_LOST_SQLSTATES):
            return "the connection was lost"
    return None


def _raise_if_lost(exc: BaseException) -> None:
    reason = unavailable_reason(exc)
    if reason is not None:
        raise DatabaseUnavailable(reason) from exc


def _connect_args(url: URL) -> dict[str, Any]:
    if url.get_driver_name() == "asyncpg":
        # Names our sessions in pg_stat_activity.
        return {"server_settings": {"application_name": "portside"}}
    return {}


def _database_file(url: URL) -> str | None:
    """The SQLite database's file, or None for an in-memory database."""
    name = url.database
    if not name or name == ":memory:" or name.startswith("file:") or url.query.get("uri"):
        return None
    return name


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
