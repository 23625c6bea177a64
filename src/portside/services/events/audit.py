"""`AuditLog`: who changed what, and who logged in or was refused, per registry.

The HTTP layer hands each record to `record` as the answer goes out (api/audit.py decides what
is recorded). Records are not written in the request: they wait in a bounded in-process buffer
that `run_writer` flushes every `flush_seconds` or as soon as `batch` records wait, and once
more at shutdown, so an audited request costs no database round-trip of its own and a push of
many layers shares a few transactions. A process killed without a shutdown loses what its
buffer held (at most `flush_seconds` of records); a database that is down keeps the records in
the buffer until `max_pending`, then drops the newest and says so in the log.

Reads flush this process's buffer first, so a caller reads its own changes at once.

Records older than the retention period are deleted by `prune_periodically`, in bounded
batches, by one process of the cluster at a time (the `audit` lease, as the collector's).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio

from portside.logs import job_failed
from portside.metadata.audit import AuditEntry, AuditFilter, AuditRecord, AuditStore
from portside.metadata.clock import utcnow
from portside.metadata.errors import UnknownCursor
from portside.metadata.leases import LeaseStore
from portside.services.management.errors import Invalid

__all__ = ["LEASE", "MAX_PAGE", "AuditLog", "AuditPage", "parse_since", "prune_periodically"]

LEASE = "audit"
"""The name of the lease the pruning process holds."""

log = logging.getLogger("portside.audit")

MAX_PAGE = 1000
"""The most records one page holds."""

_MIN_LEASE = timedelta(minutes=2)
_DURATION = re.compile(r"(\d{1,9})([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime) -> datetime:
    """The start of a `--since`: a duration back from `now` (`30m`, `12h`, `7d`, `2w`) or a
    time (ISO 8601; UTC when it names no zone). Invalid otherwise."""
    value = text.strip()
    try:
        if (match := _DURATION.fullmatch(value)) is not None:
            return now - timedelta(seconds=int(match[1]) * _UNITS[match[2]])
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: a duration beyond year 1
        raise Invalid(
            f"since {value[:40]!r} is neither a duration (30m, 12h, 7d) nor an ISO 8601 time"
        ) from None


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Records newest first, and the cursor of the next page (None: this is the last)."""

    records: tuple[AuditRecord, ...]
    next: int | None


class AuditLog:
    """Buffers records and writes them in batches; reads and prunes the stored log."""

    def __init__(
        self,
        store: AuditStore,
        leases: LeaseStore,
        *,
        retention: timedelta | None,
        flush_seconds: float = 0.5,
        batch: int = 100,
        max_pending: int = 10_000,
        prune_batch: int = 1000,
    ) -> None:
        """`retention` None keeps records forever."""
        self._store = store
        self._leases = leases
        self._retention = retention
        self._flush_seconds = flush_seconds
        self._batch = batch
        self._max_pending = max_pending
        self._prune_batch = prune_batch
        self._pending: list[AuditEntry] = []
        self._wake: anyio.Event | None = None
        self._dropped = 0
        # One flush at a time: a read's flush waits for the writer's batch to commit, or the
        # read could miss records that were taken from the buffer but not yet written.
        self._flushing = anyio.Lock()

    @property
    def pending(self) -> int:
        """Records waiting to be written."""
        return len(self._pending)

    def record(self, entry: AuditEntry) -> None:
        """Queue `entry` for the next batch (never waits, never raises)."""
        if len(self._pending) >= self._max_pending:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.error("the audit buffer is full: %d record(s) dropped", self._dropped)
            return
        self._pending.append(entry)
        if len(self._pending) >= self._batch and self._wake is not None:
            self._wake.set()

    async def flush(self) -> int:
        """Write what waits now, in one transaction; how many. On failure the records go back
        to the buffer (as room allows) and the error propagates."""
        async with self._flushing:
            batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                return await self._store.append(batch)
            except BaseException:
                room = max(self._max_pending - len(self._pending), 0)
                self._pending[:0] = batch[:room]
                raise

    async def run_writer(self) -> None:
        """Flush every `flush_seconds`, or at once when a batch is full, until cancelled;
        then flush what is left (shielded: shutdown waits for it)."""
        try:
            while True:
                self._wake = anyio.Event()
                with anyio.move_on_after(self._flush_seconds):
                    await self._wake.wait()
                with anyio.CancelScope(shield=True):
                    await self._flush_logged()
        finally:
            self._wake = None
            with anyio.CancelScope(shield=True):
                await self._flush_logged()

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception:
            job_failed(log, "writing %d audit record(s) failed; will retry", len(self._pending))

    async def registry_page(
        self, uid: str, found: AuditFilter, *, last: int | None = None, limit: int = 100
    ) -> AuditPage:
        """One registry's records (by its uid), newest first. Raises UnknownCursor if `last`
        is not one of them."""
        await self._flush_logged()
        try:
            records = await self._store.registry_page(uid, found, last=last, limit=limit + 1)
        except UnknownCursor:
            raise _unknown_cursor(last) from None
        return _page(records, limit)

    async def deployment_page(
        self,
        found: AuditFilter,
        *,
        registry: str | None = None,
        last: int | None = None,
        limit: int = 100,
    ) -> AuditPage:
        """Every record (or those naming `registry`), newest first: for the deployment
        administrator."""
        await self._flush_logged()
        try:
            records = await self._store.deployment_page(
                found, registry=registry, last=last, limit=limit + 1
            )
        except UnknownCursor:
            raise _unknown_cursor(last) from None
        return _page(records, limit)

    async def prune(self, holder: str, ttl: timedelta = _MIN_LEASE) -> int | None:
        """Delete records older than the retention period, a batch per transaction, while
        holding the `audit` lease; how many, or None if another process holds the lease."""
        if self._retention is None:
            return 0
        if not await self._leases.acquire(LEASE, holder, ttl):
            return None
        cutoff = utcnow() - self._retention
        removed = 0
        while True:
            deleted = await self._store.prune(cutoff, self._prune_batch)
            removed += deleted
            # Renewed between batches, so a long prune keeps its lease (or stops if lost).
            if deleted < self._prune_batch or not await self._leases.acquire(LEASE, holder, ttl):
                return removed

    async def release(self, holder: str) -> None:
        """Give up the `audit` lease if `holder` has it."""
        await self._leases.release(LEASE, holder)


def _unknown_cursor(last: int | None) -> Invalid:
    return Invalid(f"no record {last} in this log (pruned?): list again without `last`")


def _page(records: list[AuditRecord], limit: int) -> AuditPage:
    """The first `limit` of `records` (one more was read to tell whether a page follows)."""
    shown = tuple(records[:limit])
    more = len(records) > limit and shown
    return AuditPage(shown, shown[-1].id if more else None)


async def prune_periodically(audit: AuditLog, interval_seconds: float = 3600.0) -> None:
    """Prune expired records every `interval_seconds` (the first time after one interval) under
    the `audit` lease; failures are logged, never raised. The lease is released at the end."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    ttl = max(timedelta(seconds=interval_seconds), _MIN_LEASE)
    try:
        while True:
            await anyio.sleep(interval_seconds)
            try:
                with anyio.CancelScope(shield=True):
                    removed = await audit.prune(holder, ttl)
            except Exception:
                job_failed(log, "pruning the audit log failed; will retry")
                continue
            if removed:
                log.info("pruned %d audit record(s) past the retention period", removed)
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await audit.release(holder)
            except Exception:
                log.warning("could not release the audit lease", exc_info=True)
