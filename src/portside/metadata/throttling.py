"""Counters shared by every node: request units claimed per registry and window, and failed
logins per key.

Request counts (`RequestCountStore.claim`): a node claims several units at once with one
atomic upsert (`INSERT ... ON CONFLICT DO UPDATE ... WHERE claimed < limit RETURNING
claimed`), and is granted only what still fits under the limit, so the units granted in a
window, on all nodes together, never exceed it. The upsert needs SQLite 3.35 or PostgreSQL.

Failed logins (`LoginFailureStore`): the row of a key holds its failures since the window
began, its attempts in flight on every node and the end of its lockout; each change happens
under the row's lock (SQLite: the one writer), so two nodes cannot both take the last place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Insert, Row, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.schema import login_failures, request_counts

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["LoginFailureStore", "LoginPolicy", "RequestCountStore"]


def _upsert(conn: AsyncConnection, limit: int, units: int, **values: object) -> Insert:
    """Add `units` to a window's count unless it reached `limit` already."""
    statement: postgresql.Insert | sqlite.Insert
    # The dialect's module only, as in metadata/conflicts.py.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(request_counts)
    else:
        from sqlalchemy.dialects import sqlite

        statement = sqlite.insert(request_counts)
    counted = request_counts.c.claimed
    return (
        statement.values(claimed=units, **values)
        .on_conflict_do_update(
            index_elements=["registry_id", "kind", "window_start"],
            set_={"claimed": counted + units},
            where=counted < limit,
        )
        .returning(counted)
    )


class RequestCountStore:
    """Units of a registry's request rate limits, claimed per fixed window by the nodes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @retry_on_conflict
    async def claim(
        self,
        registry_id: int,
        kind: str,
        window_start: int,
        units: int,
        limit: int,
        *,
        prune: bool = False,
    ) -> int:
        """Claim up to `units` of the window's `limit` for `kind` (`read` or `write`): how many
        were granted (0 once the window is used up). With `prune`, the registry's counts of
        windows before this one go too (a node does so once per window)."""
        if units < 1 or limit < 1:
            raise ValueError("units and limit must be at least 1")
        units = min(units, limit)
        async with self._db.write() as conn:
            total = await conn.scalar(
                _upsert(
                    conn,
                    limit,
                    units,
                    registry_id=registry_id,
                    kind=kind,
                    window_start=window_start,
                )
            )
            if prune:
                await conn.execute(
                    delete(request_counts).where(
                        request_counts.c.registry_id == registry_id,
                        request_counts.c.kind == kind,
                        request_counts.c.window_start < window_start,
                    )
                )
        if total is None:  # the window was full: nothing was added
            return 0
        # What was counted before this claim, then what of the claim fits under the limit.
        return max(0, min(units, limit - (int(total) - units)))

    async def claimed(self, registry_id: int, kind: str, window_start: int) -> int:
        """Units claimed in one window so far (0 if none)."""
        async with self._db.read() as conn:
            value = await conn.scalar(
                select(request_counts.c.claimed).where(
                    request_counts.c.registry_id == registry_id,
                    request_counts.c.kind == kind,
                    request_counts.c.window_start == window_start,
                )
            )
        return 0 if value is None else int(value)


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """When a key is locked out: `max_failures` in `window_ms`, for `lockout_ms`."""

    max_failures: int
    lockout_ms: int
    window_ms: int = 60_000


class LoginFailureStore:
    """Failed logins and attempts in flight per key (a hash), for every node at once."""

    def __init__(self, db: Database, policy: LoginPolicy) -> None:
        """Count by `policy` (the same on every node: it comes from the settings)."""
        self._db = db
        self._policy = policy

    @retry_on_conflict
    async def reserve(self, key: str, now_ms: int) -> int | None:
        """Take one of the key's places before its attempt is checked: None if taken, else
        the milliseconds to wait (the lockout left; 0 when every place is taken by attempts
        still being checked, whose outcome the caller should wait for)."""
        async with self._db.write() as conn:
            await conn.execute(
                insert_or_ignore(conn, login_failures, ("key",)).values(
                    key=key,
                    window_start_ms=now_ms,
                    failures=0,
                    pending=0,
                    expires_ms=now_ms + self._policy.window_ms,
                )
            )
            policy = self._policy
            row = await _locked_row(conn, key)
            if row.locked_until_ms is not None and row.locked_until_ms > now_ms:
                return int(row.locked_until_ms - now_ms)
            failures, pending, started = row.failures, row.pending, row.window_start_ms
            if started <= now_ms - policy.window_ms:
                # A new window; attempts in flight that long ago died with their node.
                failures, pending, started = 0, 0, now_ms
            if failures + pending >= policy.max_failures:
                return 0
            await conn.execute(
                update(login_failures)
                .where(login_failures.c.key == key)
                .values(
                    failures=failures,
                    pending=pending + 1,
                    window_start_ms=started,
                    locked_until_ms=None,
                    expires_ms=started + policy.window_ms,
                )
            )
        return None

    @retry_on_conflict
    async def failed(self, key: str, now_ms: int) -> bool:
        """Settle a reserved attempt as failed; True if the key is now locked out. Rows whose
        window and lockout are over go at the same time."""
        async with self._db.write() as conn:
            await conn.execute(delete(login_failures).where(login_failures.c.expires_ms < now_ms))
            await conn.execute(
                insert_or_ignore(conn, login_failures, ("key",)).values(
                    key=key,
                    window_start_ms=now_ms,
                    failures=0,
                    pending=1,
                    expires_ms=now_ms + self._policy.window_ms,
                )
            )
            policy = self._policy
            row = await _locked_row(conn, key)
            pending = max(0, row.pending - 1)
            if row.locked_until_ms is not None and row.locked_until_ms > now_ms:
                await _set(conn, key, pending=pending)
                return True
            failures, started = row.failures, row.window_start_ms
            if started <= now_ms - policy.window_ms:
                failures, started = 0, now_ms
            failures += 1
            if failures >= policy.max_failures:
                until = now_ms + policy.lockout_ms
                await _set(
                    conn,
                    key,
                    failures=0,
                    pending=pending,
                    window_start_ms=until,
                    locked_until_ms=until,
                    expires_ms=until,
                )
                return True
            await _set(
                conn,
                key,
                failures=failures,
                pending=pending,
                window_start_ms=started,
                locked_until_ms=None,
                expires_ms=started + policy.window_ms,
            )
        return False

    @retry_on_conflict
    async def succeeded(self, key: str) -> None:
        """Forget the key's failures (and attempts in flight) after a successful login."""
        async with self._db.write() as conn:
            await conn.execute(delete(login_failures).where(login_failures.c.key == key))

    async def locked_for(self, key: str, now_ms: int) -> int | None:
        """Milliseconds the key stays locked out, or None."""
        async with self._db.read() as conn:
            until = await conn.scalar(
                select(login_failures.c.locked_until_ms).where(login_failures.c.key == key)
            )
        if until is None or until <= now_ms:
            return None
        return int(until - now_ms)

    async def count(self) -> int:
        """How many keys have a row (what the sweep keeps bounded)."""
        async with self._db.read() as conn:
            rows = await conn.scalar(select(func.count()).select_from(login_failures))
        return int(rows or 0)


async def _locked_row(conn: AsyncConnection, key: str) -> Row[Any]:
    """The key's row, locked until the transaction ends (SQLite: the writer holds the file)."""
    query = select(login_failures).where(login_failures.c.key == key).with_for_update()
    return (await conn.execute(query)).one()


async def _set(conn: AsyncConnection, key: str, **values: object) -> None:
    await conn.execute(update(login_failures).where(login_failures.c.key == key).values(**values))
