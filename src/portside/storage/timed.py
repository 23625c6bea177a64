"""`TimedDriver`: a storage driver that reports how long each call of the driver it wraps took.

It wraps, it does not inherit: any `StorageDriver` goes in, and the composition root decides
what the timings feed (Prometheus, in portside/runtime/metrics.py). Streams (`read`,
`upload_read`) are timed from the call to the end of the stream, so a slow reader shows as a
slow read. Attributes beyond the Protocol (a driver's own `readiness` probe) are passed through
untimed, so checks such as the readiness probe see the wrapped driver's abilities.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from portside.storage.base import StorageDriver, closing

__all__ = ["CallObserver", "TimedDriver"]

CallObserver = Callable[[str, str, float], None]
"""Called after each driver call with its operation, its outcome ("ok" or "error") and seconds."""

_T = TypeVar("_T")


class TimedDriver:
    """A `StorageDriver` around another, reporting each call to an observer."""

    def __init__(self, driver: StorageDriver, observe: CallObserver) -> None:
        self.wrapped = driver
        self._observe = observe

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this class lacks: the wrapped driver's extras.
        return getattr(self.wrapped, name)

    async def _timed(self, operation: str, call: Awaitable[_T]) -> _T:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await call
            outcome = "ok"
            return result
        finally:
            self._observe(operation, outcome, time.perf_counter() - started)

    async def _timed_stream(
        self, operation: str, stream: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        started = time.perf_counter()
        outcome = "error"
        try:
            async with closing(stream) as chunks:
                async for chunk in chunks:
                    yield chunk
            outcome = "ok"
        finally:
            self._observe(operation, outcome, time.perf_counter() - started)

    async def stat(self, key: str) -> int:
        """See `StorageDriver.stat`."""
        return await self._timed("stat", self.wrapped.stat(key))

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """See `StorageDriver.read`."""
        return self._timed_stream("read", self.wrapped.read(key, offset, length))

    def local_path(self, key: str) -> str | None:
        """See `StorageDriver.local_path` (no I/O: not timed)."""
        return self.wrapped.local_path(key)

    async def presigned_get(self, key: str, expires_seconds: int) -> str | None:
        """See `StorageDriver.presigned_get`."""
        return await self._timed("presigned_get", self.wrapped.presigned_get(key, expires_seconds))

    async def delete(self, key: str) -> None:
        """See `StorageDriver.delete`."""
        await self._timed("delete", self.wrapped.delete(key))

    async def delete_many(self, keys: Sequence[str]) -> None:
        """See `StorageDriver.delete_many`."""
        await self._timed("delete_many", self.wrapped.delete_many(keys))

    async def upload_create(self, upload_id: str) -> None:
        """See `StorageDriver.upload_create`."""
        await self._timed("upload_create", self.wrapped.upload_create(upload_id))

    async def upload_size(self, upload_id: str) -> int:
        """See `StorageDriver.upload_size`."""
        return await self._timed("upload_size", self.wrapped.upload_size(upload_id))

    async def upload_append(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        """See `StorageDriver.upload_append` (the time includes receiving the chunks)."""
        return await self._timed(
            "upload_append", self.wrapped.upload_append(upload_id, offset, chunks)
        )

    def upload_read(self, upload_id: str) -> AsyncIterator[bytes]:
        """See `StorageDriver.upload_read`."""
        return self._timed_stream("upload_read", self.wrapped.upload_read(upload_id))

    async def upload_seal(self, upload_id: str) -> None:
        """See `StorageDriver.upload_seal`."""
        await self._timed("upload_seal", self.wrapped.upload_seal(upload_id))

    async def upload_commit(self, upload_id: str, key: str) -> None:
        """See `StorageDriver.upload_commit`."""
        await self._timed("upload_commit", self.wrapped.upload_commit(upload_id, key))

    async def upload_delete(self, upload_id: str) -> None:
        """See `StorageDriver.upload_delete`."""
        await self._timed("upload_delete", self.wrapped.upload_delete(upload_id))

    async def close(self) -> None:
        """See `StorageDriver.close` (not timed)."""
        await self.wrapped.close()
