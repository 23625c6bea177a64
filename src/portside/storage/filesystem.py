"""Filesystem driver: objects are files under one root; commits are fsync + rename."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import sys
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, BinaryIO, ParamSpec, TypeVar, cast

import anyio
import anyio.to_thread

from portside.storage.base import closing
from portside.storage.errors import (
    ObjectNotFound,
    StorageError,
    UploadNotFound,
    UploadOffsetMismatch,
)
from portside.storage.layout import upload_key
from portside.storage.streams import batches

__all__ = ["FilesystemDriver"]

# Writes and reads move this much per thread hop: large enough that the hop costs nothing
# measurable, small enough to bound memory per request.
_IO_CHUNK = 1024 * 1024
# Hand what was appended to the kernel's writeback whenever this much has gathered (see
# _Appender); SYNC_FILE_RANGE_WRITE from <linux/fs.h>.
_WRITEBACK_EVERY = 8 * 1024 * 1024
_SYNC_FILE_RANGE_WRITE = 2
# writev takes at most this many buffers per call (IOV_MAX: 1024 on Linux and macOS).
_IOV_MAX = 1024


P = ParamSpec("P")
T = TypeVar("T")


def _as_storage_errors(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Report operating-system failures (disk full, permissions, a broken mount) as
    StorageError, as the driver contract says; a sender's ConnectionError passes through."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (StorageError, ConnectionError):
            raise
        except OSError as exc:
            raise StorageError(f"filesystem storage: {exc}") from exc

    return wrapper


class FilesystemDriver:
    """Stores each key as a file below `root`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root).resolve()
        self._root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        # A lexical check, no filesystem calls: this runs on every blob request.
        if key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
            raise ValueError(f"key {key!r} escapes the storage root")
        return self._root / key

    @_as_storage_errors
    async def stat(self, key: str) -> int:
        """Size of the file at `key`."""
        try:
            return (await anyio.to_thread.run_sync(os.stat, self._path(key))).st_size
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream a file's bytes, one thread hop per megabyte."""
        try:
            handle = await anyio.to_thread.run_sync(open, self._path(key), "rb")
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        async with closing(_read_file(handle, offset, length)) as chunks:
            async for chunk in chunks:
                yield chunk

    def local_path(self, key: str) -> str | None:
        """The file's path, for zero-copy responses."""
        return str(self._path(key))

    async def presigned_get(self, key: str, expires_seconds: int) -> str | None:
        """No URL can reach these bytes without Portside."""
        return None

    @_as_storage_errors
    async def delete(self, key: str) -> None:
        """Remove the file if it exists."""
        await anyio.to_thread.run_sync(_unlink_quietly, self._path(key))

    @_as_storage_errors
    async def delete_many(self, keys: Sequence[str]) -> None:
        """Remove the files that exist, all in one thread hop: the hop costs more than the
        unlink of a small file, and the collector deletes hundreds inside one transaction."""
        await anyio.to_thread.run_sync(_unlink_all, [self._path(key) for key in keys])

    @_as_storage_errors
    async def upload_create(self, upload_id: str) -> None:
        """Create an empty upload file."""
        path = self._path(upload_key(upload_id))
        await anyio.to_thread.run_sync(_create_empty, path)

    @_as_storage_errors
    async def upload_size(self, upload_id: str) -> int:
        """Current size of the upload file."""
        try:
            return await self.stat(upload_key(upload_id))
        except ObjectNotFound:
            raise UploadNotFound(upload_id) from None

    @_as_storage_errors
    async def upload_append(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        """Append at `offset`, which must be the current end of the upload."""
        path = self._path(upload_key(upload_id))
        try:
            appender = await anyio.to_thread.run_sync(_Appender, path)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        try:
            if appender.size != offset:
                raise UploadOffsetMismatch(appender.size, offset)
            loop = asyncio.get_running_loop()
            inflight: asyncio.Future[None] | None = None
            try:
                # One write in flight on a worker thread while the next batch arrives.
                async for batch in batches(chunks, _IO_CHUNK):
                    if inflight is not None:
                        await inflight
                    inflight = loop.run_in_executor(None, appender.write, batch)
            finally:
                # Shielded: a cancelled request still lands the batch already handed over,
                # and the file is closed, so the upload keeps exactly what arrived.
                with anyio.CancelScope(shield=True):
                    if inflight is not None:
                        await inflight
            return appender.size
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(appender.close)

    async def upload_read(self, upload_id: str) -> AsyncIterator[bytes]:
        """Stream the upload's bytes so far."""
        try:
            handle = await anyio.to_thread.run_sync(open, self._path(upload_key(upload_id)), "rb")
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        async with closing(_read_file(handle, 0, None)) as chunks:
            async for chunk in chunks:
                yield chunk

    @_as_storage_errors
    async def upload_seal(self, upload_id: str) -> None:
        """fsync the upload file, so that the commit's own fsync finds nothing left to write."""
        try:
            await anyio.to_thread.run_sync(_fsync_file, self._path(upload_key(upload_id)))
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None

    @_as_storage_errors
    async def upload_commit(self, upload_id: str, key: str) -> None:
        """fsync the upload, then rename it into place (or drop it if the key exists)."""
        source = self._path(upload_key(upload_id))
        target = self._path(key)
        try:
            await anyio.to_thread.run_sync(_commit, source, target)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None

    @_as_storage_errors
    async def upload_delete(self, upload_id: str) -> None:
        """Remove the upload file if present."""
        await anyio.to_thread.run_sync(_unlink_quietly, self._path(upload_key(upload_id)))

    async def close(self) -> None:
        """Nothing to release."""


async def _read_file(handle: BinaryIO, offset: int, length: int | None) -> AsyncIterator[bytes]:
    try:
        if offset:
            await anyio.to_thread.run_sync(handle.seek, offset)
        remaining = length
        while remaining is None or remaining > 0:
            want = _IO_CHUNK if remaining is None else min(_IO_CHUNK, remaining)
            chunk = await anyio.to_thread.run_sync(handle.read, want)
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk
    finally:
        # Closing a file opened for reading flushes nothing, so it is done here rather than
        # on a thread: a finally that awaits can be cut by a cancellation and leak the handle.
        handle.close()


class _Appender:
    """An upload file open at its end, which has its bytes written back to disk as they come.

    Without the early writeback, the kernel keeps a whole upload dirty in memory (a few GiB
    fit under the default dirty ratios) and `upload_seal`'s fsync writes all of it after the
    last byte arrived: ~1 s of a 1 GiB push spent waiting, with the disk idle before. Started
    every few MiB, the writes overlap with receiving, and the seal finds almost nothing left.
    Durability is unchanged: only the fsyncs of the seal and the commit promise anything.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY)
        try:
            self.size = os.lseek(self._fd, 0, os.SEEK_END)
        except BaseException:
            os.close(self._fd)
            raise
        self._unflushed = self.size  # where the range not yet handed to writeback starts

    def write(self, batch: list[bytes]) -> None:
        """Write `batch` at the end (on a worker thread), starting writeback now and then."""
        _write_all(self._fd, batch)
        self.size += sum(len(chunk) for chunk in batch)
        if self.size - self._unflushed >= _WRITEBACK_EVERY:
            _start_writeback(self._fd, self._unflushed, self.size - self._unflushed)
            self._unflushed = self.size

    def close(self) -> None:
        """Hand the rest to writeback and close (durable only after the seal or the commit)."""
        try:
            # The next request on this upload is a seal or another append: either way the
            # disk may as well be busy with these bytes in between.
            if self.size > self._unflushed:
                _start_writeback(self._fd, self._unflushed, self.size - self._unflushed)
        finally:
            os.close(self._fd)


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """Write `chunks` in order with as few system calls as writev allows, no joined copy."""
    views = [memoryview(chunk) for chunk in chunks]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + _IOV_MAX])
        # A short write (a signal, a nearly full disk) leaves the rest for the next call.
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range to disk, without waiting (a hint only)."""
    sync_file_range = _sync_file_range()
    if sync_file_range is not None:
        # Its result is ignored on purpose: a failure here (an unsupported filesystem) costs
        # only the overlap, and an I/O error surfaces at the seal's or the commit's fsync.
        sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's sync_file_range(2) through ctypes (os has no binding), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast("Callable[[int, int, int, int], int]", function)


def _create_empty(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb"):
        pass


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _unlink_all(paths: list[Path]) -> None:
    failure: OSError | None = None
    for path in paths:
        try:
            _unlink_quietly(path)
        except OSError as exc:
            failure = failure or exc
    if failure is not None:
        raise failure


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit(source: Path, target: Path) -> None:
    if target.exists():
        source.unlink()  # same digest, same bytes: keep the object that is there
        return
    _fsync_file(source)  # cheap after upload_seal: no dirty pages left
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
