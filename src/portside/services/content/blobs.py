"""Reading and deleting blobs a repository may see."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from portside.metadata.blobs import BlobStore
from portside.metadata.clock import utcnow
from portside.metadata.errors import DatabaseUnavailable
from portside.oci.digests import Digest
from portside.services.content.locks import lock_errors
from portside.services.content.targets import Target
from portside.services.errors import BlobUnknown, RangeNotSatisfiable
from portside.storage.base import StorageDriver, closing
from portside.storage.errors import ObjectNotFound
from portside.storage.layout import blob_key

__all__ = ["DEFAULT_TOUCH_AFTER", "BlobInfo", "BlobService"]

DEFAULT_TOUCH_AFTER = timedelta(minutes=30)
"""Half the collector's default grace period (settings.gc_grace_minutes = 60)."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A readable blob: its digest, size, and a local path when zero-copy is possible."""

    digest: Digest
    size: int
    path: str | None


class BlobService:
    """Blob lookup, streaming and deletion."""

    def __init__(
        self,
        blobs: BlobStore,
        driver: StorageDriver,
        redirect_seconds: int = 0,
        *,
        touch_after: timedelta = DEFAULT_TOUCH_AFTER,
        accel_prefix: str = "",
    ) -> None:
        self._blobs = blobs
        self._accel_prefix = accel_prefix
        self._driver = driver
        self._redirect_seconds = redirect_seconds
        self._touch_after = touch_after

    async def stat(self, target: Target, digest: Digest) -> BlobInfo:
        """The blob's size and location; BlobUnknown unless this repository may read it.

        A link last used more than `touch_after` ago (half the collector's grace period) is
        touched first, so a client told "this layer exists" has at least that long to push
        the manifest referencing it (docs/gc.md). Only then does the pull path write.
        """
        link = await self._blobs.link(target.registry_id, target.repository, str(digest))
        stale = link is not None and (
            link.touched_at is None or link.touched_at < utcnow() - self._touch_after
        )
        # The collector may be removing a stale link right now: answer what the touch found.
        if link is None or (stale and not await self._touch(target, digest)):
            raise BlobUnknown("blob unknown to registry", {"digest": str(digest)})
        return BlobInfo(digest, link.size, self._driver.local_path(blob_key(digest)))

    async def _touch(self, target: Target, digest: Digest) -> bool:
        """Touch the link; True too when the primary database is lost (pulls from a replica
        go on, and the collector cannot delete anything without the primary either)."""
        try:
            return await self._blobs.touch(target.registry_id, target.repository, str(digest))
        except DatabaseUnavailable:
            return True

    async def redirect_url(self, blob: BlobInfo) -> str | None:
        """A presigned URL to send the client to instead of the bytes, when configured."""
        if not self._redirect_seconds:
            return None
        return await self._driver.presigned_get(blob_key(blob.digest), self._redirect_seconds)

    def accel_redirect(self, blob: BlobInfo) -> str | None:
        """Where a proxy in front finds the blob's file (`X-Accel-Redirect`), when configured
        and the blob is a local file; None to send the bytes from here."""
        if not self._accel_prefix or blob.path is None:
            return None
        return self._accel_prefix + blob_key(blob.digest)

    async def open(
        self, blob: BlobInfo, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream bytes `start`..`end` (inclusive) of a blob found by `stat`.

        The first block is read here, so that bytes missing from storage raise ObjectNotFound
        before an answer starts rather than cutting a 200 short.
        """
        length = None if end is None else end - start + 1
        stream = self._driver.read(blob_key(blob.digest), start, length)
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            first = b""
        except ObjectNotFound:
            raise _bytes_missing(blob.digest) from None
        return _prepend(first, stream)

    async def ensure_stored(self, blob: BlobInfo) -> None:
        """ObjectNotFound if the storage lacks the bytes of a blob found by `stat`."""
        try:
            await self._driver.stat(blob_key(blob.digest))
        except ObjectNotFound:
            raise _bytes_missing(blob.digest) from None

    @staticmethod
    def check_range(blob: BlobInfo, start: int | None, end: int | None) -> tuple[int, int]:
        """Resolve a byte range (`bytes=start-end`, either side optional) against the size."""
        size = blob.size
        if start is None:  # suffix range: the last `end` bytes
            if end is None or end == 0:
                raise RangeNotSatisfiable(size)
            return max(size - end, 0), size - 1
        if start >= size or (end is not None and end < start):
            raise RangeNotSatisfiable(size)
        return start, size - 1 if end is None else min(end, size - 1)

    async def delete(self, target: Target, digest: Digest) -> None:
        """Unlink the blob from the repository; bytes go when garbage collection runs.

        Locked if the repository is write- or delete-disabled.
        """
        with lock_errors():
            removed = await self._blobs.unlink(target.registry_id, target.repository, str(digest))
        if not removed:
            raise BlobUnknown("blob unknown to registry", {"digest": str(digest)})


def _bytes_missing(digest: Digest) -> ObjectNotFound:
    # Linked in the database, absent from storage: the operator's problem (a restored backup,
    # a missing mount), named so that the log says which blob.
    return ObjectNotFound(
        f"blob {digest} is linked but its bytes are missing from storage ({blob_key(digest)})"
    )


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async with closing(rest) as chunks:
        async for chunk in chunks:
            yield chunk
