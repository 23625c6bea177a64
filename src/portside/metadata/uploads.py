"""Upload sessions: which repository an upload belongs to and when it was last touched."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, insert, select, update

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.locks import writable_repository
from portside.metadata.records import UploadRecord
from portside.metadata.schema import repositories, uploads

__all__ = ["UploadStore"]


class UploadStore:
    """Upload session rows. The bytes live in storage under the same id."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @retry_on_conflict
    async def create(
        self, registry_id: int, repository: str, upload_id: str, hash_state: bytes
    ) -> None:
        """Record a new session (creating the repository on first use).

        Raises LockViolation if the repository is write-disabled.
        """
        now = utcnow()
        async with self._db.write() as conn:
            repo_id = await writable_repository(conn, registry_id, repository, shared=True)
            await conn.execute(
                insert(uploads).values(
                    id=upload_id,
                    repository_id=repo_id,
                    created_at=now,
                    updated_at=now,
                    hashed_size=0,
                    hash_state=hash_state,
                )
            )

    async def get(self, registry_id: int, repository: str, upload_id: str) -> UploadRecord | None:
        """The session, if it belongs to that repository of that registry."""
        query = (
            select(
                uploads.c.id,
                uploads.c.repository_id,
                uploads.c.created_at,
                uploads.c.updated_at,
                uploads.c.hashed_size,
                uploads.c.hash_state,
            )
            .select_from(uploads.join(repositories, repositories.c.id == uploads.c.repository_id))
            .where(
                and_(
                    uploads.c.id == upload_id,
                    repositories.c.registry_id == registry_id,
                    repositories.c.name == repository,
                )
            )
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else UploadRecord(*row)

    @retry_on_conflict
    async def save_progress(self, upload_id: str, size: int, hash_state: bytes | None) -> None:
        """Record activity now, with the hash state after `size` bytes (None: not hashed)."""
        async with self._db.write() as conn:
            await conn.execute(
                update(uploads)
                .where(uploads.c.id == upload_id)
                .values(updated_at=utcnow(), hashed_size=size, hash_state=hash_state)
            )

    @retry_on_conflict
    async def delete(self, upload_id: str) -> bool:
        """Forget a session; False if it was already gone."""
        async with self._db.write() as conn:
            result = await conn.execute(delete(uploads).where(uploads.c.id == upload_id))
            return result.rowcount > 0

    async def idle_since(self, cutoff: datetime, limit: int = 500) -> list[str]:
        """Ids of sessions not touched since `cutoff`."""
        async with self._db.read() as conn:
            query = select(uploads.c.id).where(uploads.c.updated_at < cutoff).limit(limit)
            return list((await conn.scalars(query)).all())
