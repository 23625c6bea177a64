"""`ChangeNotices`: PostgreSQL's marks of committed changes, heard through LISTEN/NOTIFY.

Statement-level triggers (migration 0022) run `pg_notify('portside_changes', '')` on every
write to the tables the per-process caches read (registries, and the repositories, manifests
and tags behind a manifest read; the access tables too, although their writers bump the
registry's auth version anyway). NOTIFY is delivered at commit only, to every session that
LISTENs, so any writer notifies: another node, an older node, a script, the GC. A cache that
starts reading another table needs that table's trigger too (a migration), or it goes stale.

Each process keeps one asyncpg connection LISTENing, opened in the background on the first
`mark()` (so it never delays a worker's start, and never crosses a fork). The mark is a counter
bumped by every notification and by every (re)connection, so the marks of two listeners are
never equal (a commit missed while the listener was down is covered by the bump). While the
listener is not listening, `mark()` is None: callers read the database.

The bound is no longer "the next request": a notification arrives a little after the commit
(measured ~1 ms on one machine, tests/metadata/test_change_notices.py; a few ms across a
network). A cache may serve what was current before a commit until its notification arrives.
A listener whose connection died without a word (a silent network partition) would hear
nothing, so the connection is pinged every `_PING_SECONDS`, and a mark is given only while the
server answered within `_LIVE_SECONDS`: that is the bound when the network fails silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy.engine import URL

__all__ = ["CHANNEL", "ChangeNotices"]

log = logging.getLogger("portside.metadata")

CHANNEL = "portside_changes"
"""The channel the triggers of migration 0022 notify."""

_PING_SECONDS = 1.0
_LIVE_SECONDS = 3.0
_CONNECT_SECONDS = 5.0
_RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
# Query parameters SQLAlchemy's asyncpg dialect takes for itself; asyncpg would send them to
# the server as settings, and the server would refuse them.
_DIALECT_PARAMETERS = ("prepared_statement_cache_size", "prepared_statement_name_func")


class ChangeNotices:
    """A counter of the changes committed to a PostgreSQL database, None while not listening."""

    def __init__(self, url: URL) -> None:
        """Listen to the database at `url` (a PostgreSQL URL), from the first `mark()` on."""
        plain = url.set(drivername="postgresql").difference_update_query(_DIALECT_PARAMETERS)
        self._dsn = plain.render_as_string(hide_password=False)
        self._count = 0
        self._generation = 0
        self._listening = False
        self._heard = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self._closed = False

    @property
    def generation(self) -> int:
        """How many times the listener started listening (a new one after each reconnection)."""
        return self._generation

    def mark(self) -> int | None:
        """The current mark, or None if the listener is not (yet, or any more) listening."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        if loop is not self._loop:
            self._start(loop)
            return None
        if not self._listening or time.monotonic() - self._heard > _LIVE_SECONDS:
            return None
        return self._count

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Listen from `loop` (the serving loop; a loop of its own in a test)."""
        if self._closed:
            return
        running = self._task is not None and not self._task.done()
        if running and self._loop is not None and not self._loop.is_closed():
            return  # one listener per process, on the loop that started it
        self._listening = False
        self._loop = loop
        self._task = loop.create_task(self._listen(), name="portside-change-notices")

    async def _listen(self) -> None:
        """Connect, LISTEN, ping; again after any failure, until closed."""
        failures = 0
        while not self._closed:
            try:
                await self._session()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the session: go on without marks, retry
                if failures == 0:
                    log.warning("change listener lost (%s): caches off until it is back", exc)
                failures += 1
            finally:
                self._listening = False
                await self._drop()
            if not self._closed:
                await asyncio.sleep(_RETRY_SECONDS[min(failures, len(_RETRY_SECONDS) - 1)])

    async def _session(self) -> None:
        """One connection's life: LISTEN, then ping until it fails."""
        # Imported here: asyncpg (~3 MiB resident) is for PostgreSQL; a process on SQLite,
        # the embedded default, never loads it. It ships no type information; it is used
        # here only for its LISTEN support.
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(
            self._dsn,
            timeout=_CONNECT_SECONDS,
            server_settings={"application_name": "portside-changes"},
        )
        self._conn = conn
        conn.add_termination_listener(self._terminated)
        await conn.add_listener(CHANNEL, self._notified)
        # A new generation: what was committed while nobody listened is covered by the bump.
        self._count += 1
        self._generation += 1
        self._heard = time.monotonic()
        self._listening = True
        while not conn.is_closed():
            await asyncio.sleep(_PING_SECONDS)
            await asyncio.wait_for(conn.fetchval("SELECT 1"), _LIVE_SECONDS)
            self._heard = time.monotonic()

    def _notified(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        self._count += 1
        self._heard = time.monotonic()

    def _terminated(self, _conn: Any) -> None:
        self._listening = False

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                await asyncio.wait_for(conn.close(), 1.0)
            if not conn.is_closed():
                conn.terminate()

    async def aclose(self) -> None:
        """Stop listening and close the connection (no marks after this)."""
        self._closed = True
        self._listening = False
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            if self._loop is asyncio.get_running_loop():
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._loop is asyncio.get_running_loop():
            await self._drop()
        elif self._conn is not None:  # opened on a loop that is gone or not ours to wait on
            self._conn.terminate()
            self._conn = None
