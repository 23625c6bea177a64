"""The storage driver contract. Every driver passes tests/storage/test_driver_contract.py.

Keys are the strings built in `portside.storage.layout`; drivers treat them as opaque paths.
All methods are coroutines; drivers do their blocking work off the event loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol

import anyio

__all__ = ["StorageDriver", "closing", "delete_each"]


@contextlib.asynccontextmanager
async def closing(stream: AsyncIterator[bytes]) -> AsyncIterator[AsyncIterator[bytes]]:
    """`stream`, closed on leaving the block (drivers' reads are async generators).

    A generator left to the garbage collector is closed later, in a task of its own, or by the
    event loop's shutdown: whatever its `finally` releases (a partial copy, a connection, a
    thread) outlives the reader. Whoever stops reading a stream early closes it here.
    """
    try:
        yield stream
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


async def delete_each(
    delete: Callable[[str], Awaitable[None]], keys: Sequence[str], *, concurrency: int = 16
) -> None:
    """`delete_many` for a store without a batch call: `delete` each key, `concurrency` at a
    time (a remote store need not take hundreds of requests at once); every key is tried,
    then the first failure raised."""
    pending = iter(keys)
    failures: list[Exception] = []

    async def worker() -> None:
        for key in pending:
            try:
                await delete(key)
            except Exception as exc:
                failures.append(exc)

    async with anyio.create_task_group() as tasks:
        for _ in range(min(concurrency, len(keys))):
            tasks.start_soon(worker)
    if failures:
        raise failures[0]


class StorageDriver(Protocol):
    """Bytes by key: committed objects, and append-only uploads that become objects."""

    async def stat(self, key: str) -> int:
        """Size in bytes of the object at `key`. Raises ObjectNotFound if absent."""
        ...

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream the object's bytes from `offset`, `length` bytes or to the end.

        Raises ObjectNotFound (on first iteration) if absent.
        """
        ...

    def local_path(self, key: str) -> str | None:
        """A filesystem path the server may send with zero copy, or None if the driver has none.

        Does no I/O; the path may not exist.
        """
        ...

    async def presigned_get(self, key: str, expires_seconds: int) -> str | None:
        """A URL that lets anyone GET the object for `expires_seconds`, or None if the driver
        cannot make one. Does not check that the object exists."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object. A missing object is not an error."""
        ...

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Remove the objects, as `delete` each, in as few calls as the store allows (the
        garbage collector deletes hundreds at a time). Every key is tried; the first failure
        is raised after."""
        ...

    async def upload_create(self, upload_id: str) -> None:
        """Start an empty upload."""
        ...

    async def upload_size(self, upload_id: str) -> int:
        """Bytes appended so far. Raises UploadNotFound."""
        ...

    async def upload_append(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        """Append `chunks` at `offset` and return the new size.

        Raises UploadNotFound, or UploadOffsetMismatch (appending nothing) when `offset` is not
        the current size. On any failure the upload keeps a prefix of what was sent.
        """
        ...

    def upload_read(self, upload_id: str) -> AsyncIterator[bytes]:
        """Stream the upload's bytes so far. Raises UploadNotFound (on first iteration)."""
        ...

    async def upload_seal(self, upload_id: str) -> None:
        """Make the upload's bytes so far durable, ahead of `upload_commit`.

        Optional preparation that moves slow work (an fsync) out of the database transaction
        `upload_commit` runs in; `upload_commit` is correct without it. A driver with nothing
        to do need not look for the upload; one that looks raises UploadNotFound.
        """
        ...

    async def upload_commit(self, upload_id: str, key: str) -> None:
        """Atomically make the upload's bytes the object at `key`; the upload is gone after.

        If an object already exists at `key` it is kept (keys are content addresses) and the
        upload is discarded. Raises UploadNotFound.
        """
        ...

    async def upload_delete(self, upload_id: str) -> None:
        """Discard an upload. A missing upload is not an error."""
        ...

    async def close(self) -> None:
        """Release connections and other resources."""
        ...
