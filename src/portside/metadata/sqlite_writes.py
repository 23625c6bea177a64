"""SQLite write connections that leave the event loop only where SQLite may wait.

aiosqlite runs every call on a connection's own thread: opening a cursor, executing, fetching,
closing the cursor, committing. Each is a hand-off to that thread and a wake-up of the event
loop on the way back, about four per statement. An image push ran ~45 write statements in seven
transactions, ~230 hand-offs, and under concurrent pushes each came back only when the loop was
free again, while the transaction held SQLite's one write lock (docs/benchmarks.md).

Inside a write transaction that holds the lock, a statement never waits: in WAL mode writers do
not wait for readers, and the pages it reads are in SQLite's or the kernel's cache, as they are
for the reads that already run in the loop (database.py). Only two calls may wait:

- `BEGIN IMMEDIATE`, for the write lock (busy_timeout), when a process that does not queue in
  write_turns.py holds it (the sqlite3 shell, an older Portside);
- `COMMIT`, which every 1000 pages of WAL runs a checkpoint with its fsyncs;

and opening (its PRAGMAs: switching to WAL takes a lock) and closing the connection. Those
still go to the connection's thread; every other call runs in the caller's thread at once. A
transaction is then two hand-offs, whatever its statements. Measured under 24 clients pushing
images (two workers, load average ~15, before and after alternating): server CPU per image push
133-157 ms before, 76-91 ms after, with this module and the push path's statements trimmed.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import aiosqlite

__all__ = ["connect_for_writes", "statements_on_thread"]

# Set for a bulk transaction (the collector's, retention's): its statements may each take
# long (an UPDATE over every blob row), and in the loop's thread they would stall every
# request of the process meanwhile.
_ON_THREAD: ContextVar[bool] = ContextVar("portside_sqlite_statements_on_thread", default=False)


@contextlib.contextmanager
def statements_on_thread() -> Iterator[None]:
    """Within the block, this task's write statements run on the connection's thread."""
    token = _ON_THREAD.set(True)
    try:
        yield
    finally:
        _ON_THREAD.reset(token)


# Calls of the sqlite3 connection itself that may wait; a cursor's close never does.
_WAITING_CALLS = frozenset({"commit", "close", "executescript"})
# Statements that may wait, by their first six characters.
_WAITING_SQL = frozenset({"BEGIN", "BEGIN ", "PRAGMA"})


class _LoopFirstConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs the calls that cannot wait in the caller's thread."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if _ON_THREAD.get() or _may_wait(fn, args):
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        # Safe beside the thread: every earlier call was awaited, so the thread is idle.
        return fn(*args, **kwargs)


def _may_wait(fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    name = getattr(fn, "__name__", "")
    if name in _WAITING_CALLS and isinstance(getattr(fn, "__self__", None), sqlite3.Connection):
        return True
    # BEGIN waits for the lock; PRAGMAs run as a connection opens, and switching to WAL may.
    return name == "execute" and bool(args) and str(args[0]).lstrip()[:6].upper() in _WAITING_SQL


def connect_for_writes(path: str) -> Callable[[], aiosqlite.Connection]:
    """The `async_creator` of an engine over the SQLite file `path` (create_async_engine)."""

    def create() -> aiosqlite.Connection:
        # check_same_thread off: the connection is opened on its thread and used from both.
        connector = functools.partial(sqlite3.connect, path, check_same_thread=False)
        connection = _LoopFirstConnection(connector, iter_chunk_size=64)
        connection._thread.daemon = True  # as aiosqlite's own connect does under SQLAlchemy
        return connection

    return create
