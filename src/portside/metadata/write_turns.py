"""Turns at SQLite's one write lock: first come, first served, within and across processes.

SQLite lets one connection write at a time. A connection that finds the lock taken polls for
it in its busy handler, sleeping 1, 2, 5, 10, ... up to 100 ms between tries: the lock sits
idle while the next writer sleeps, and the writer that happens to wake at the right moment
wins, whoever came first. Under 24 concurrent image pushes (two worker processes, nine write
transactions per push) that made writers queue for seconds, with a p99 several times the
median (docs/benchmarks.md).

Here a writer first waits for its turn: an asyncio lock orders the writers of one process
(one event loop), then an exclusive `flock` on a file beside the database orders the
processes; the kernel wakes the next waiter the moment the holder lets go. The turn is only a
queue in front of SQLite's own lock, never a replacement for it: BEGIN IMMEDIATE still takes
the write lock, so a process that does not queue here (an older Portside, the sqlite3 shell)
is still kept out by SQLite and waited for in the busy handler as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator

import anyio.to_thread

__all__ = ["WriteTurns"]


class WriteTurns:
    """The queue in front of one SQLite database file's write lock."""

    def __init__(self, database_path: str | None) -> None:
        # None (an in-memory database): one process only, the asyncio lock is enough.
        self._lock_path = None if database_path is None else f"{database_path}-writer"
        self._fd: int | None = None
        self._pid = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None
        # Waiting for the file lock takes a thread; its own limiter keeps those waits from
        # using up the threads that the holder's transaction needs to finish (file I/O).
        self._waiter = anyio.CapacityLimiter(1)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this writer's turn and hold it until the block ends."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # An asyncio lock belongs to one event loop; a Database used from another loop
            # (a test's second loop, a CLI command's asyncio.run) queues on a new one.
            self._loop, self._lock = loop, asyncio.Lock()
            self._waiter = anyio.CapacityLimiter(1)
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            # SQLite would have made it wait out busy_timeout and fail; here it would wait
            # for itself forever.
            raise RuntimeError("a write transaction was begun inside another one")
        async with self._lock:
            self._holder = task
            try:
                async with self._file_lock():
                    yield
            finally:
                self._holder = None

    @contextlib.asynccontextmanager
    async def _file_lock(self) -> AsyncIterator[None]:
        fd = self._file()
        if fd is None:
            yield
            return
        try:
            # Free (the usual case: the other processes are not writing): taken at once,
            # without a thread hop on every write transaction.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Not cancellable: a cancelled wait would leave a thread that later takes the
            # lock with nobody to release it. The wait ends when the holder commits.
            await anyio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX, limiter=self._waiter)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _file(self) -> int | None:
        """This process's descriptor of the lock file (a forked worker opens its own: flock
        locks belong to the open file, which a fork would share with its parent)."""
        if self._lock_path is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            try:
                self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                # A read-only directory: SQLite's own lock still orders the writers.
                self._lock_path = None
                return None
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        """Release the lock file's descriptor."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None
