"""`DatabaseChanges`: has anything been committed to the database since a mark? Exactly, cheaply.

Per-process caches of rows that every request needs (the registry a Host names, and what an
anonymous caller may do there) must never serve a row another node changed: a stale grant is a
security bug. Reading a version counter per request is exact but costs a read transaction
(~0.1 ms through SQLAlchemy, about the price of the row itself).

SQLite tells it for less: `PRAGMA data_version` on one connection changes whenever any other
connection, in this process or another, commits to the database file, and costs a few
microseconds on a connection held for the purpose (it never writes, so every commit is another
connection's). A cache remembers the mark it took *before* it read its rows; while the mark is
unchanged nothing was committed since, so the rows are current. Any commit (a push too) moves
the mark, and the cache reads again: exact, not bounded by a time.

PostgreSQL has no such counter, but it tells: triggers NOTIFY at every commit that writes a
table the caches read, and one connection per process LISTENs (metadata/change_notices.py). The
mark there is a counter of notifications heard, and the bound is the notification's delivery
(measured ~1 ms on one machine, test_change_notices.py; a few ms across a network, and at most
`_LIVE_SECONDS`, 3 s, when the listener's connection fails without a word), not "the next
request". Until the listener listens, and whenever it does not, `mark()` is None.

With a read replica (`database_read_url`) the mark is None too, and the caches are off: a
notification says the primary committed, not that the replica has applied it, and a cache must
never fill from a replica that has not. (Sending the cached reads to the primary instead would
take the read load off the replica that it is there to carry.)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from portside.metadata.change_notices import ChangeNotices

__all__ = ["DatabaseChanges"]


class DatabaseChanges:
    """Marks of the database's committed state; equal marks mean nothing was committed between."""

    def __init__(self, url: str, *, replica: bool = False) -> None:
        """Watch the database at `url`: a SQLite file, or PostgreSQL without a read replica
        (`replica`); others give no marks."""
        parsed = make_url(url)
        database = parsed.database or ""
        backend = parsed.get_backend_name()
        self._path = database if backend == "sqlite" else ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            self._path = ""  # each connection to an in-memory database is its own database
        self._conn: sqlite3.Connection | None = None
        self._notices = ChangeNotices(parsed) if backend == "postgresql" and not replica else None

    def mark(self) -> int | None:
        """The current mark, or None if changes cannot be told (then trust no cache)."""
        if self._notices is not None:
            return self._notices.mark()
        if not self._path:
            return None
        conn = self._conn
        if conn is None:
            # Opened on first use, in the serving process (never across a fork), read-only:
            # this connection must never commit, or its own commits would not move the mark.
            uri = Path(self._path).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            self._conn = conn
        row = conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the watching SQLite connection (opened again if marked after this)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        """Close the watching connection or listener (a listener is not started again)."""
        self.close()
        if self._notices is not None:
            await self._notices.aclose()
