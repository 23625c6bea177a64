"""In-memory driver for tests and throwaway servers; holds everything in one process."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence

from portside.storage.errors import ObjectNotFound, UploadNotFound, UploadOffsetMismatch

__all__ = ["MemoryDriver"]


class MemoryDriver:
    """Objects and uploads in dictionaries."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._uploads: dict[str, bytearray] = {}

    async def stat(self, key: str) -> int:
        """Size of the object."""
        try:
            return len(self._objects[key])
        except KeyError:
            raise ObjectNotFound(key) from None

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Yield the requested slice in one piece."""
        try:
            data = self._objects[key]
        except KeyError:
            raise ObjectNotFound(key) from None
        end = len(data) if length is None else offset + length
        yield data[offset:end]

    def local_path(self, key: str) -> str | None:
        """Memory has no paths."""
        return None

    async def presigned_get(self, key: str, expires_seconds: int) -> str | None:
        """No URL can reach these bytes without Portside."""
        return None

    async def delete(self, key: str) -> None:
        """Forget the object."""
        self._objects.pop(key, None)

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Forget the objects."""
        for key in keys:
            await self.delete(key)

    async def upload_create(self, upload_id: str) -> None:
        """Start an empty upload."""
        self._uploads[upload_id] = bytearray()

    async def upload_size(self, upload_id: str) -> int:
        """Bytes appended so far."""
        try:
            return len(self._uploads[upload_id])
        except KeyError:
            raise UploadNotFound(upload_id) from None

    async def upload_append(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        """Append at the end."""
        try:
            buffer = self._uploads[upload_id]
        except KeyError:
            raise UploadNotFound(upload_id) from None
        if len(buffer) != offset:
            raise UploadOffsetMismatch(len(buffer), offset)
        async for chunk in chunks:
            buffer += chunk
        return len(buffer)

    async def upload_read(self, upload_id: str) -> AsyncIterator[bytes]:
        """Yield the upload's bytes."""
        try:
            data = bytes(self._uploads[upload_id])
        except KeyError:
            raise UploadNotFound(upload_id) from None
        yield data

    async def upload_seal(self, upload_id: str) -> None:
        """Nothing to make durable; checks that the upload exists."""
        if upload_id not in self._uploads:
            raise UploadNotFound(upload_id)

    async def upload_commit(self, upload_id: str, key: str) -> None:
        """Move the upload's bytes to `key` unless it exists."""
        try:
            data = self._uploads.pop(upload_id)
        except KeyError:
            raise UploadNotFound(upload_id) from None
        self._objects.setdefault(key, bytes(data))

    async def upload_delete(self, upload_id: str) -> None:
        """Forget the upload."""
        self._uploads.pop(upload_id, None)

    async def close(self) -> None:
        """Nothing to release."""
