"""Online garbage collection: the blob links, blobs and bytes nothing uses any more.

Deleting a manifest, a tag or a blob link never deletes bytes. The collector finds what such
deletions left behind and removes it while pushes and pulls go on, in three steps
(docs/gc.md has the protocol and the argument that no live blob is ever lost):

1. links no manifest (nor recycled manifest) of their repository references and nobody used
   within the grace period, each removed under the repository's exclusive lock after a
   re-check;
2. phase A: blobs nothing links or references, older than the grace period, are marked doomed;
3. phase B: each doomed blob is locked, checked again, and its bytes then its row deleted.

One collector runs at a time across every node (the "gc" lease, renewed while it works). It
runs on a schedule inside the server (`collect_periodically`) and on demand (`portside gc`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import ParamSpec, Protocol, TypeVar

import anyio

from portside.logs import job_failed
from portside.metadata.clock import utcnow
from portside.metadata.gc import CollectorStore, DeadLink
from portside.metadata.leases import LeaseStore
from portside.oci.digests import Digest
from portside.oci.errors import DigestInvalid
from portside.storage.base import StorageDriver
from portside.storage.layout import blob_key

__all__ = [
    "LEASE",
    "CollectorBusy",
    "GarbageCollector",
    "GcProgress",
    "GcReport",
    "collect_periodically",
]

LEASE = "gc"
"""The name of the lease every collector takes."""

log = logging.getLogger("portside.gc")
T = TypeVar("T")
P = ParamSpec("P")


class CollectorBusy(Exception):
    """Another collector holds the lease (or took it over from this one)."""


class GcProgress(Protocol):
    """Where a collection reports how far it got (the CLI draws progress bars)."""

    def begin(self, phase: str, total: int) -> None:
        """A phase starts with `total` items to go through."""

    def advance(self, count: int) -> None:
        """`count` more items of the current phase are done."""


@dataclass(frozen=True, slots=True)
class GcReport:
    """What a collection removed (or, in a dry run, would remove)."""

    dry_run: bool
    links_removed: int
    blobs_removed: int
    bytes_freed: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready values."""
        return asdict(self)

    def summary(self) -> str:
        """One line for the log."""
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"{verb} {self.links_removed} blob link(s) and {self.blobs_removed} blob(s), "
            f"{self.bytes_freed} bytes, in {self.seconds:.1f} s"
        )


class GarbageCollector:
    """Removes unused blob links, blob rows and blob bytes, one collector at a time."""

    def __init__(
        self,
        store: CollectorStore,
        leases: LeaseStore,
        driver: StorageDriver,
        *,
        grace: timedelta,
        holder: str | None = None,
        lease_ttl: timedelta = timedelta(minutes=2),
        batch_size: int = 1000,
        links_per_transaction: int = 1000,
        blobs_per_transaction: int = 400,
        pause: float | None = None,
    ) -> None:
        """`grace`: links and blobs younger (or used more recently) than this are kept.

        `batch_size` rows are listed per read. Removals are grouped into short transactions
        (pushes wait for them: on SQLite every writer does) of a fixed number of set-based
        statements each, whatever the number of links or blobs in them; a blob also costs the
        deletion of its bytes inside its transaction. After each one the collector pauses as
        long as the transaction took, at most `pause` seconds; by default 0.1 s on SQLite,
        where every writer waits for the one write lock (without the pause a collector that
        starts its next transaction at once starves the pushes), else none.
        """
        self._store = store
        self._leases = leases
        self._driver = driver
        self._grace = grace
        self._holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._ttl = lease_ttl
        self._batch = batch_size
        self._links_per_transaction = links_per_transaction
        self._blobs_per_transaction = blobs_per_transaction
        self._pause = (0.1 if store.writers_poll else 0.0) if pause is None else pause
        self._lost = False
        self._running = False

    @property
    def holder(self) -> str:
        """The name this collector takes the lease under."""
        return self._holder

    async def collect(
        self, *, dry_run: bool = False, progress: GcProgress | None = None
    ) -> GcReport:
        """Run one collection; with `dry_run`, only count what it would remove.

        Raises CollectorBusy if another collector holds the lease (a dry run takes none).
        """
        started = time.monotonic()
        cutoff = utcnow() - self._grace
        if dry_run:
            if progress is not None:
                progress.begin("forecast", 1)
            forecast = await self._store.forecast(cutoff)
            if progress is not None:
                progress.advance(1)
            return GcReport(
                True, forecast.links, forecast.blobs, forecast.bytes, time.monotonic() - started
            )
        if self._running:  # the lease would let this holder in twice
            raise CollectorBusy(f"this collector is running already ({self._holder})")
        if not await self._leases.acquire(LEASE, self._holder, self._ttl):
            holder = await self._leases.holder(LEASE)
            raise CollectorBusy(f"another collector is running ({holder or 'just finished'})")
        self._lost = False
        self._running = True
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._renew)
                try:
                    links, blobs, freed = await self._run(cutoff, progress)
                finally:
                    tasks.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The renewer never fails, so the one failure is the collection's own.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            self._running = False
            with anyio.CancelScope(shield=True):
                await self._leases.release(LEASE, self._holder)
        return GcReport(False, links, blobs, freed, time.monotonic() - started)

    async def _run(self, cutoff: datetime, progress: GcProgress | None) -> tuple[int, int, int]:
        if progress is not None:
            forecast = await self._store.forecast(cutoff)
            progress.begin("links", forecast.links)
        links = 0
        async with contextlib.aclosing(self._dead_links(cutoff)) as chunks:
            async for chunk in chunks:
                first = chunk[0]
                removed = await self._step(
                    self._store.unlink_unused,
                    first.registry_id,
                    first.repository_id,
                    first.repository,
                    [link.digest for link in chunk],
                    cutoff,
                )
                links += len(removed)
                if progress is not None:
                    progress.advance(len(chunk))
        if progress is not None:
            progress.begin("mark", 1)
        await self._step(self._store.doom, cutoff)
        if progress is not None:
            progress.advance(1)
            progress.begin("blobs", await self._store.count_doomed())
        blobs = freed = 0
        after: str | None = None
        while digests := await self._store.doomed(after, self._batch):
            after = digests[-1]
            for chunk_digests in _chunks(digests, self._blobs_per_transaction):
                gone = await self._step(
                    self._store.delete_doomed, chunk_digests, cutoff, self._delete_bytes
                )
                blobs += len(gone)
                freed += sum(blob.size for blob in gone)
                if progress is not None:
                    progress.advance(len(chunk_digests))
        return links, blobs, freed

    async def _dead_links(self, cutoff: datetime) -> AsyncGenerator[list[DeadLink], None]:
        """Dead-looking links, a repository's worth (at most links_per_transaction) at a time."""
        after: tuple[int, str] | None = None
        while batch := await self._store.dead_links(cutoff, after, self._batch):
            after = (batch[-1].repository_id, batch[-1].digest)
            for _, group in groupby(batch, key=lambda link: link.repository_id):
                for chunk in _chunks(list(group), self._links_per_transaction):
                    yield chunk

    async def _step(self, work: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """One transaction, never cut in half by cancellation; stops if the lease was lost."""
        if self._lost:
            raise CollectorBusy("the collector lost its lease to another one; stopped")
        started = time.monotonic()
        with anyio.CancelScope(shield=True):
            result = await work(*args, **kwargs)
        if self._pause:
            # Let waiting writers in: as long as the transaction took, up to `pause`, so the
            # collector holds the write lock at most about half the time and a short
            # transaction is not followed by a long idle gap.
            await anyio.sleep(min(self._pause, time.monotonic() - started))
        return result

    async def _renew(self) -> None:
        """Keep the lease while the collection runs; note it if another collector took it."""
        while True:
            await anyio.sleep(self._ttl.total_seconds() / 3)
            try:
                if not await self._leases.acquire(LEASE, self._holder, self._ttl):
                    self._lost = True
                    return
            except Exception:
                job_failed(log, "renewing the collector's lease failed; will retry")

    async def _delete_bytes(self, digests: list[str]) -> None:
        keys = []
        for digest in digests:
            try:
                keys.append(blob_key(Digest.parse(digest)))
            except DigestInvalid:
                continue  # no such key can exist
        # One call for the lot: one thread hop on the filesystem, DeleteObjects on S3.
        await self._driver.delete_many(keys)


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


async def collect_periodically(
    collector: GarbageCollector,
    interval_seconds: float,
    on_run: Callable[[str], None] | None = None,
) -> None:
    """Collect every `interval_seconds` (sleeping first) until cancelled; 0 means never.

    Every node may run this: the lease lets one collect and the others skip their turn. A
    failure is logged and the loop goes on. `on_run` hears each run's outcome: "ran",
    "skipped" (another node holds the lease) or "failed".
    """
    record = on_run or (lambda outcome: None)
    if interval_seconds <= 0:
        return
    while True:
        await anyio.sleep(interval_seconds)
        try:
            report = await collector.collect()
        except CollectorBusy as exc:
            log.info("garbage collection skipped: %s", exc)
            record("skipped")
        except Exception:
            job_failed(log, "garbage collection failed; will retry")
            record("failed")
        else:
            log.info("garbage collection %s", report.summary())
            record("ran")
