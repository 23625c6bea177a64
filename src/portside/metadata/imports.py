"""Import jobs, what an import checks before it starts, and linking a blob from another
registry of the deployment without reading its bytes.

A job's row is written by the process that runs it and read by any node, so any node answers
`GET .../imports/{id}`. The blob link across registries is a cross-repository mount whose
source lives in another registry: the same transaction finds the source link and makes the
target's, through metadata/usage.py (quota and exact counters), so the collector's
re-checks see the new link before they could delete the bytes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from portside.metadata.blobs import mount_link
from portside.metadata.clock import utcnow
from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.locks import flags_of, lock_columns
from portside.metadata.records import LockFlags
from portside.metadata.schema import import_jobs, repositories, repository_blobs, tags

__all__ = ["ImportJobRecord", "ImportStore", "TargetState"]

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"


@dataclass(frozen=True, slots=True)
class ImportJobRecord:
    """An import job as stored."""

    id: str
    registry_id: int
    status: str
    request: dict[str, Any]
    bytes_done: int
    bytes_total: int
    result: dict[str, Any] | None
    error_code: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class TargetState:
    """What an import into a repository would meet: its flags, and which of the tags exist
    (with their flags)."""

    repository: LockFlags | None
    tags: dict[str, LockFlags]


def _record(row: Any) -> ImportJobRecord:
    return ImportJobRecord(
        row.id,
        row.registry_id,
        row.status,
        json.loads(row.request),
        int(row.bytes_done),
        int(row.bytes_total),
        None if row.result is None else json.loads(row.result),
        row.error_code,
        row.error,
        row.created_at,
        row.updated_at,
        row.finished_at,
    )


class ImportStore:
    """Rows of `import_jobs`, and the reads and links an import needs."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @retry_on_conflict
    async def create(self, registry_id: int, request: dict[str, Any]) -> ImportJobRecord:
        """A new queued job for `request` (which must hold no secret)."""
        now = utcnow()
        job_id = str(uuid.uuid4())
        async with self._db.write() as conn:
            await conn.execute(
                import_jobs.insert().values(
                    id=job_id,
                    registry_id=registry_id,
                    status=QUEUED,
                    request=json.dumps(request, sort_keys=True),
                    created_at=now,
                    updated_at=now,
                )
            )
        found = await self.get(registry_id, job_id)
        assert found is not None
        return found

    async def get(self, registry_id: int, job_id: str) -> ImportJobRecord | None:
        """One job of the registry, or None."""
        query = select(import_jobs).where(
            import_jobs.c.registry_id == registry_id, import_jobs.c.id == job_id
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    async def list(self, registry_id: int, limit: int = 50) -> list[ImportJobRecord]:
        """The registry's most recent jobs, newest first."""
        query = (
            select(import_jobs)
            .where(import_jobs.c.registry_id == registry_id)
            .order_by(import_jobs.c.created_at.desc())
            .limit(limit)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]

    @retry_on_conflict
    async def progress(
        self, job_id: str, *, status: str | None = None, done: int, total: int
    ) -> None:
        """Record how far a job is (and that it runs)."""
        values: dict[str, Any] = {"bytes_done": done, "bytes_total": total, "updated_at": utcnow()}
        if status is not None:
            values["status"] = status
        async with self._db.write() as conn:
            await conn.execute(update(import_jobs).where(import_jobs.c.id == job_id).values(values))

    @retry_on_conflict
    async def finish(
        self,
        job_id: str,
        *,
        result: dict[str, Any] | None = None,
        error_code: str | None = None,
        error: str | None = None,
        done: int | None = None,
    ) -> None:
        """Mark a job succeeded (with its result) or failed (with an error)."""
        now = utcnow()
        values: dict[str, Any] = {
            "status": FAILED if error is not None else SUCCEEDED,
            "result": None if result is None else json.dumps(result, sort_keys=True),
            "error_code": error_code,
            "error": None if error is None else error[:2000],
            "updated_at": now,
            "finished_at": now,
        }
        if done is not None:
            values["bytes_done"] = done
        async with self._db.write() as conn:
            await conn.execute(update(import_jobs).where(import_jobs.c.id == job_id).values(values))

    async def target_state(
        self, registry_id: int, repository: str, tag_names: Sequence[str]
    ) -> TargetState:
        """The repository's flags (None if it does not exist) and those of existing tags."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(repositories.c.id, *lock_columns(repositories)).where(
                        repositories.c.registry_id == registry_id,
                        repositories.c.name == repository,
                    )
                )
            ).first()
            if row is None:
                return TargetState(None, {})
            found = (
                await conn.execute(
                    select(tags.c.name, *lock_columns(tags)).where(
                        tags.c.repository_id == row[0], tags.c.name.in_(list(tag_names))
                    )
                )
            ).all()
        return TargetState(flags_of(row, 1), {t[0]: flags_of(t, 1) for t in found})

    async def linked(self, registry_id: int, repository: str, digest: str) -> bool:
        """Whether `repository` already links the blob."""
        query = (
            select(repository_blobs.c.digest)
            .select_from(
                repository_blobs.join(
                    repositories, repositories.c.id == repository_blobs.c.repository_id
                )
            )
            .where(
                repositories.c.registry_id == registry_id,
                repositories.c.name == repository,
                repository_blobs.c.digest == digest,
            )
        )
        async with self._db.read() as conn:
            return await conn.scalar(query) is not None

    @retry_on_conflict
    async def link_across(
        self,
        source_registry_id: int,
        source: str,
        registry_id: int,
        target: str,
        digest: str,
    ) -> int | None:
        """Link a blob `source` (in another registry) links into `target`, without its bytes;
        its size, or None if the source does not link it.

        Raises LockViolation if `target` is write-disabled, QuotaViolation if it does not fit.
        """
        async with self._db.write() as conn:
            return await mount_link(
                conn, source_registry_id, source, registry_id, target, digest, lock_source=True
            )
