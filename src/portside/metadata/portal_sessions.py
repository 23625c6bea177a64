"""The web portal's sign-in sessions, kept in the database so every node of a cluster knows
them (a session made on one node is used on another, and a sign-out on any node ends it).

A session is found by the SHA-256 of its cookie value; the value itself is stored nowhere.
Expired rows are refused on read and removed by `delete_expired` (called on sign-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, select

from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.schema import portal_sessions, repositories, tags

__all__ = ["PortalSessionRecord", "PortalSessionStore", "tag_count"]


@dataclass(frozen=True, slots=True)
class PortalSessionRecord:
    """A signed-in identity: who (`kind`, `subject`, `registry_id`), with which secret, the
    CSRF token of its forms and when it ends."""

    id: str
    kind: str
    subject: str
    registry_id: int | None
    secret: str
    csrf: str
    created_at: datetime
    expires_at: datetime


def _record(row: Row[Any]) -> PortalSessionRecord:
    return PortalSessionRecord(
        id=row.id,
        kind=row.kind,
        subject=row.subject,
        registry_id=row.registry_id,
        secret=row.secret,
        csrf=row.csrf,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


class PortalSessionStore:
    """Create, find and end portal sessions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, record: PortalSessionRecord) -> None:
        """Store a new session (its id is a fresh random value's hash: no conflict)."""
        async with self._db.write() as conn:
            await conn.execute(
                insert(portal_sessions).values(
                    id=record.id,
                    kind=record.kind,
                    subject=record.subject,
                    registry_id=record.registry_id,
                    secret=record.secret,
                    csrf=record.csrf,
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                )
            )

    async def get(self, session_id: str) -> PortalSessionRecord | None:
        """The session with this id if it exists and has not expired."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(portal_sessions).where(portal_sessions.c.id == session_id)
                )
            ).first()
        if row is None:
            return None
        record = _record(row)
        return record if record.expires_at > utcnow() else None

    async def delete(self, session_id: str) -> None:
        """End a session (nothing happens if it is already gone)."""
        async with self._db.write() as conn:
            await conn.execute(delete(portal_sessions).where(portal_sessions.c.id == session_id))

    async def delete_expired(self) -> int:
        """Remove the sessions that have ended; how many there were."""
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(portal_sessions).where(portal_sessions.c.expires_at <= utcnow())
            )
        return int(result.rowcount or 0)


_TAG_COUNT = (
    select(func.count())
    .select_from(tags.join(repositories, tags.c.repository_id == repositories.c.id))
    .where(repositories.c.registry_id == bindparam("registry_id"))
)


async def tag_count(db: Database, registry_id: int) -> int:
    """How many tags a registry's repositories hold together (the overview page's figure)."""
    async with db.read() as conn:
        found = (await conn.execute(_TAG_COUNT, {"registry_id": registry_id})).scalar()
    return int(found or 0)
