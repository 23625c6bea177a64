"""Cluster-wide leases: one holder at a time for a named background job (the collector, the
retention sweep), across every process and node sharing the database.

A lease is a row (`leases`): taking it succeeds if it is free or expired; the holder renews it
while it works and releases it when done. A holder that crashed loses it when it expires.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, delete, or_, select, update

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.schema import leases

__all__ = ["LeaseStore"]


class LeaseStore:
    """Take, renew and release named leases."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @retry_on_conflict
    async def acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take the lease `name` for `holder` (or renew it if `holder` has it); True if held."""
        now = utcnow()
        async with self._db.write() as conn:
            inserted = await conn.execute(
                insert_or_ignore(conn, leases, ("name",)).values(
                    name=name, holder=holder, expires_at=now + ttl
                )
            )
            if inserted.rowcount:
                return True
            taken = await conn.execute(
                update(leases)
                .where(
                    and_(
                        leases.c.name == name,
                        or_(leases.c.holder == holder, leases.c.expires_at < now),
                    )
                )
                .values(holder=holder, expires_at=now + ttl)
            )
            return taken.rowcount > 0

    @retry_on_conflict
    async def release(self, name: str, holder: str) -> bool:
        """Give the lease up if `holder` has it; True if it did."""
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(leases).where(and_(leases.c.name == name, leases.c.holder == holder))
            )
        return result.rowcount > 0

    async def holder(self, name: str) -> str | None:
        """Who holds the lease now (None if free or expired)."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(leases.c.holder, leases.c.expires_at).where(leases.c.name == name)
                )
            ).first()
        if row is None or row.expires_at < utcnow():
            return None
        return str(row.holder)
