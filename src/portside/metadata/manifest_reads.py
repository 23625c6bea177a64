"""`RememberedManifests`: manifest reads kept per process while the database shows no commit.

A pull reads the same few manifests by tag over and over, and each read is a transaction
through SQLAlchemy that costs more than the rest of the request together. The reads are kept
under a `DatabaseChanges` mark (metadata/changes.py): while no connection of any process has
committed since a manifest was read, the stored row, its tag and the locks that decide whether
it may be read are all as they were, so the remembered answer is the answer. Any commit (a
push, a tag moved, a lock, a deletion, on any node) moves the mark and the next read goes to the
database (on PostgreSQL, once its notice arrives: metadata/change_notices.py). Without a mark
(PostgreSQL before its listener listens, or beside a read replica) every read goes there.

Only found, readable manifests are remembered (a miss or a lock is read again each time), and
at most `_MAX_BYTES` of manifest bodies per process.
"""

from __future__ import annotations

from portside.metadata.changes import DatabaseChanges
from portside.metadata.database import Database
from portside.metadata.manifests import ManifestStore
from portside.metadata.records import ManifestRecord

__all__ = ["RememberedManifests"]

_MAX_BYTES = 8 << 20
_Key = tuple[int, str, str | None, str | None]


class RememberedManifests(ManifestStore):
    """A `ManifestStore` whose reads by tag or digest are remembered while nothing changed."""

    def __init__(self, db: Database, changes: DatabaseChanges) -> None:
        """Read through `db`; trust what was read while `changes` shows the same mark."""
        super().__init__(db)
        self._changes = changes
        self._mark: int | None = None
        self._kept: dict[_Key, ManifestRecord] = {}
        self._bytes = 0

    async def get(
        self,
        registry_id: int,
        repository: str,
        *,
        digest: str | None = None,
        tag: str | None = None,
    ) -> ManifestRecord | None:
        """As `ManifestStore.get`, from memory when nothing was committed since the last read."""
        # Taken before the read: a commit in between moves it, and costs only another read.
        mark = self._changes.mark()
        if mark is None:
            return await super().get(registry_id, repository, digest=digest, tag=tag)
        if mark != self._mark:
            self._kept.clear()
            self._bytes = 0
            self._mark = mark
        key = (registry_id, repository, digest, tag)
        kept = self._kept.get(key)
        if kept is not None:
            return kept
        record = await super().get(registry_id, repository, digest=digest, tag=tag)
        if record is not None and self._mark == mark:
            if self._bytes + record.size > _MAX_BYTES:
                self._kept.clear()
                self._bytes = 0
            self._kept[key] = record
            self._bytes += record.size
        return record
