"""`Replicator`: copies into a node's location every blob its replicated registries reference.

Each node runs one for its own location; the lease `replication:<location>` lets one node of
a location work at a time (as the collector's "gc" lease does across the deployment). A copy
that fails is retried with a growing delay (5 s, doubling, at most 10 min).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import anyio

from portside.metadata.clock import utcnow
from portside.metadata.errors import DatabaseUnavailable
from portside.metadata.leases import LeaseStore
from portside.metadata.regional_events import RegionalEventStore
from portside.metadata.replication import PendingBlob, ReplicationStore
from portside.oci.digests import Digest
from portside.storage.errors import ObjectNotFound, StorageError
from portside.storage.layout import blob_key
from portside.storage.located import LocatedBlobs, copy_object

__all__ = ["ReplicationReport", "Replicator", "replicate_periodically"]

log = logging.getLogger("portside.replication")
_FIRST_RETRY_SECONDS = 5.0
_LAST_RETRY_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class ReplicationReport:
    """What one run did: blobs copied (and their bytes), found already here, failed."""

    copied: int = 0
    bytes: int = 0
    confirmed: int = 0
    failed: int = 0

    def summary(self) -> str:
        """One line for the log."""
        return (
            f"copied {self.copied} blob(s) ({self.bytes} bytes), confirmed {self.confirmed}, "
            f"{self.failed} failed"
        )


class Replicator:
    """The replication worker of one location."""

    def __init__(
        self,
        store: ReplicationStore,
        leases: LeaseStore,
        located: LocatedBlobs,
        *,
        concurrency: int = 4,
        batch_size: int = 100,
        lease_ttl: timedelta = timedelta(minutes=2),
        regional: RegionalEventStore | None = None,
    ) -> None:
        self._store = store
        self._leases = leases
        self._located = located
        self._concurrency = concurrency
        self._batch = batch_size
        self._ttl = lease_ttl
        self._regional = regional
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease = f"replication:{located.location}"

    async def run(self) -> ReplicationReport | None:
        """Work the backlog of this location until it is empty (or waits for retries); None if
        another node of the location holds the lease."""
        totals = [0, 0, 0, 0]
        if not await self._leases.acquire(self.lease, self._holder, self._ttl):
            return None
        try:
            while batch := await self._store.backlog(self._located.location, self._batch):
                limiter = anyio.CapacityLimiter(self._concurrency)
                async with anyio.create_task_group() as tasks:
                    for blob in batch:
                        tasks.start_soon(self._bounded, limiter, blob, totals)
                if not await self._leases.acquire(self.lease, self._holder, self._ttl):
                    break  # another node took over
            await self._release_regional()
        finally:
            with anyio.CancelScope(shield=True):
                await self._leases.release(self.lease, self._holder)
        return ReplicationReport(*totals)

    async def _release_regional(self) -> None:
        """Hand regional webhooks the push events of images now complete here: after every
        pass, since an image pushed here may have had nothing to copy."""
        if self._regional is None:
            return
        released = await self._regional.release(self._located.location)
        if released:
            log.info("%s: released %d regional webhook event(s)", self._located.location, released)

    async def _bounded(
        self, limiter: anyio.CapacityLimiter, blob: PendingBlob, totals: list[int]
    ) -> None:
        async with limiter:
            try:
                outcome, size = await self.replicate(blob)
            except StorageError as exc:  # this location's storage: said, not a bug
                log.warning("replicating %s failed: %s", blob.digest, exc)
                await self._failed(blob, f"{type(exc).__name__}: {exc}")
                outcome, size = "failed", 0
            except Exception as exc:  # never let one blob stop the others
                log.exception("replicating %s failed", blob.digest)
                await self._failed(blob, f"{type(exc).__name__}: {exc}")
                outcome, size = "failed", 0
        index = {"copied": 0, "confirmed": 2, "failed": 3}[outcome]
        totals[index] += 1
        if outcome == "copied":
            totals[1] += size

    async def replicate(self, blob: PendingBlob) -> tuple[str, int]:
        """Make this location hold `blob`: "confirmed" (it did), "copied", or "failed"."""
        here = self._located.location
        digest = Digest.parse(blob.digest)
        key = blob_key(digest)
        try:
            size = await self._located.local.stat(key)
        except ObjectNotFound:
            pass
        else:
            await self._store.confirm(blob.digest, here, size)
            return "confirmed", size
        errors: list[str] = []
        for name, driver in self._located.others.items():
            if not self._located.usable(name):
                errors.append(f"{name}: storage unavailable")
                continue
            try:
                size = await copy_object(driver, self._located.local, digest, key)
            except ObjectNotFound:
                continue
            except Exception as exc:
                self._located.failed(name, exc)
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            await self._store.confirm(blob.digest, here, size)
            await self._store.confirm(blob.digest, name, size)
            log.info("replicated %s (%d bytes) from %s to %s", blob.digest, size, name, here)
            return "copied", size
        await self._failed(blob, "; ".join(errors) or "no location holds the bytes")
        return "failed", 0

    async def _failed(self, blob: PendingBlob, error: str) -> None:
        here = self._located.location
        attempts = await self._store.attempts(blob.digest, here)
        delay = min(_FIRST_RETRY_SECONDS * 2**attempts, _LAST_RETRY_SECONDS)
        retry_at = utcnow() + timedelta(seconds=delay)
        await self._store.failed(blob.digest, here, error[:2000], retry_at)


async def replicate_periodically(
    replicator: Replicator,
    interval_seconds: float,
    on_run: Callable[[str], None] | None = None,
) -> None:
    """Run the worker every `interval_seconds` until cancelled (0: never). A failure is logged
    and the loop goes on."""
    record = on_run or (lambda outcome: None)
    if interval_seconds <= 0:
        return
    database_lost = False
    while True:
        await anyio.sleep(interval_seconds)
        try:
            report = await replicator.run()
        except DatabaseUnavailable as exc:
            # An outage, not a bug: said once (not a traceback every poll) until it ends.
            if not database_lost:
                log.warning("replication paused until the database is back: %s", exc)
            database_lost = True
            record("failed")
            continue
        except Exception:
            log.exception("replication failed; will retry")
            record("failed")
            continue
        if database_lost:
            log.info("replication resumed: the database is back")
            database_lost = False
        if report is None:
            record("skipped")
        elif report.copied or report.confirmed or report.failed:
            log.info("replication %s", report.summary())
            record("ran")
