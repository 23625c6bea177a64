"""How the Azure Blob driver commits an upload, and how it reports the SDK's errors.

`Committer.commit` makes the upload blob's bytes the blob at a content-addressed key, server-side
and atomically, unless a complete blob is there already. Two ways, in this order:

1. Put Block From URL, then Put Block List (real Azure). Each committed block of the upload is
   staged onto the destination from a byte range of the upload blob (a read-only SAS URL), a few
   blocks at a time; every call copies at most one block, so blobs of any size commit in bounded
   steps. Put Block List with If-None-Match: * then makes the blob appear at once, or finds one
   there already (409) and keeps it. Destination block ids name the byte range they hold, so a
   retried or concurrent commit of the same content stages the same ids again instead of piling
   up uncommitted blocks (Azure allows 100,000 a blob).
2. Copy Blob (Azurite, which answers 501 to Put Block From URL; remembered per driver). The
   source is the upload blob's plain URL: in the same account the request's Shared Key authorizes
   it. A SAS on the source would make Azurite validate it with a GET that it answers with the whole
   blob, buffered into one JavaScript string, which fails with HTTP 500 past 512 MiB. Azurite's
   copy itself only shares the source's extents, so it is instant at any size.

Functions and a small class over SDK clients rather than driver methods, so that azure.py stays
about uploads.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anyio
from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobBlock, BlobProperties
from azure.storage.blob.aio import BlobClient

from portside.storage.errors import StorageError

__all__ = ["Committer", "azure_errors", "complete", "describe"]

_COPY_POLL_MAX = 2.0
_ATTEMPTS = 3


def complete(properties: BlobProperties) -> bool:
    """False while a copy onto the blob is pending, or after one failed."""
    return properties.copy.status in (None, "success")


def describe(exc: AzureError) -> str:
    """A one-line account of an SDK error: status, Azure's error code, first line of message."""
    first = exc.message.strip().splitlines()[0] if exc.message.strip() else type(exc).__name__
    if not isinstance(exc, HttpResponseError):
        return f"{type(exc).__name__}: {first}"
    code = getattr(exc, "error_code", None)
    return f"HTTP {exc.status_code} ({getattr(code, 'value', code) or 'no error code'}): {first}"


@contextlib.contextmanager
def azure_errors(action: str) -> Iterator[None]:
    """Raise StorageError for any Azure SDK error that escapes `action` (e.g. "stat blobs/x")."""
    try:
        yield
    except AzureError as exc:
        raise StorageError(f"Azure Blob Storage: {action} failed: {describe(exc)}") from exc


def block_ranges(sizes: list[int]) -> list[tuple[str, int, int]]:
    """(block id, offset, length) for consecutive blocks of `sizes`; ids name the range."""
    ranges, offset = [], 0
    for size in sizes:
        ranges.append((f"{offset:016x}{size:016x}", offset, size))
        offset += size
    return ranges


@dataclass
class Committer:
    """Commits uploads for one driver; remembers whether the service has Put Block From URL."""

    sign: Callable[[BlobClient], str] | None  # a read-only SAS URL for a blob; None without a key
    concurrency: int  # Put Block From URL calls in flight
    copy_timeout: float  # seconds to wait for a Copy Blob to finish
    from_url: bool = True  # False once the service answered 501 (Azurite)

    async def commit(
        self, source: BlobClient, etag: str, sizes: list[int], target: BlobClient
    ) -> None:
        """Make `target` hold `source`'s committed blocks (`sizes`) unless a blob is there."""
        for _ in range(_ATTEMPTS):
            if await self._present(target):
                return
            try:
                if self.sign is not None and self.from_url:
                    try:
                        await self._assemble(self.sign, source, sizes, target)
                        return
                    except HttpResponseError as exc:
                        if exc.status_code != 501:
                            raise
                        self.from_url = False
                await self._copy(source, etag, target)
                return
            except HttpResponseError as exc:  # 409: a blob, or a copy onto it, got there first
                if exc.status_code != 409:
                    raise
        raise StorageError(f"commit to {target.blob_name} kept conflicting; gave up")

    async def _present(self, target: BlobClient) -> bool:
        """True if a complete blob is at `target`; removes the remains of a failed copy."""
        try:
            properties = await target.get_blob_properties()
        except ResourceNotFoundError:
            return False
        status = properties.copy.status
        if status == "pending":
            status = await self._wait_for_copy(target)
        if status in (None, "success"):
            return True
        with contextlib.suppress(ResourceNotFoundError):
            await target.delete_blob()
        return False

    async def _assemble(
        self,
        sign: Callable[[BlobClient], str],
        source: BlobClient,
        sizes: list[int],
        target: BlobClient,
    ) -> None:
        """Stage every block onto `target` from `source` server-side, then commit them at once."""
        ranges = block_ranges(sizes)
        todo = iter(ranges)
        failures: list[Exception] = []

        async def stage(scope: anyio.CancelScope) -> None:
            for block_id, offset, length in todo:  # shared: each block is taken once
                try:
                    await target.stage_block_from_url(block_id, sign(source), offset, length)
                except Exception as exc:
                    failures.append(exc)
                    scope.cancel()
                    return

        async with anyio.create_task_group() as tasks:
            for _ in range(min(self.concurrency, len(ranges))):
                tasks.start_soon(stage, tasks.cancel_scope)
        if failures:
            raise failures[0]
        await target.commit_block_list(
            [BlobBlock(block_id) for block_id, _, _ in ranges],
            match_condition=MatchConditions.IfMissing,
        )

    async def _copy(self, source: BlobClient, etag: str, target: BlobClient) -> None:
        """Copy Blob from `source` (unchanged since `etag`) onto an absent `target`."""
        started = await target.start_copy_from_url(
            source.url,
            match_condition=MatchConditions.IfMissing,
            source_etag=etag,
            source_match_condition=MatchConditions.IfNotModified,
        )
        if started["copy_status"] == "success":
            return
        status = await self._wait_for_copy(target)
        if status != "success":
            raise StorageError(f"copy to {target.blob_name} ended with status {status}")

    async def _wait_for_copy(self, target: BlobClient) -> str | None:
        """Poll until `target`'s copy is no longer pending; its final copy status."""
        deadline = time.monotonic() + self.copy_timeout
        delay = 0.05
        while True:
            properties = await target.get_blob_properties()
            if properties.copy.status != "pending":
                return properties.copy.status
            if time.monotonic() > deadline:
                with contextlib.suppress(HttpResponseError):
                    await target.abort_copy(properties)
                raise StorageError(f"copy to {target.blob_name} did not finish in time")
            await anyio.sleep(delay)
            delay = min(delay * 2, _COPY_POLL_MAX)
