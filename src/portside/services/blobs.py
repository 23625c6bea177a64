"""Reading and deleting blobs a repository may see."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from portside.metadata.blobs import BlobStore
from portside.oci.digests import Digest
from portside.services.errors import BlobUnknown, RangeNotSatisfiable
from portside.services.locks import lock_errors
from portside.services.targets import Target
from portside.storage.base import StorageDriver
from portside.storage.layout import blob_key

__all__ = ["BlobInfo", "BlobService"]


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A readable blob: its digest, size, and a local path when zero-copy is possible."""

    digest: Digest
    size: int
    path: str | None


class BlobService:
    """Blob lookup, streaming and deletion."""

    def __init__(self, blobs: BlobStore, driver: StorageDriver, redirect_seconds: int = 0) -> None:
        self._blobs = blobs
        self._driver = driver
        self._redirect_seconds = redirect_seconds

    async def stat(self, target: Target, digest: Digest) -> BlobInfo:
        """The blob's size and location; BlobUnknown unless this repository may read it."""
        size = await self._blobs.linked_size(target.registry_id, target.repository, str(digest))
        if size is None:
            raise BlobUnknown("blob unknown to registry", {"digest": str(digest)})
        return BlobInfo(digest, size, self._driver.local_path(blob_key(digest)))

    async def redirect_url(self, blob: BlobInfo) -> str | None:
        """A presigned URL to send the client to instead of the bytes, when configured."""
        if not self._redirect_seconds:
            return None
        return await self._driver.presigned_get(blob_key(blob.digest), self._redirect_seconds)

    def open(self, blob: BlobInfo, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes `start`..`end` (inclusive) of a blob found by `stat`."""
        length = None if end is None else end - start + 1
        return self._driver.read(blob_key(blob.digest), start, length)

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
