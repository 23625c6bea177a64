"""`LocatedBlobs`: the storage of a node's location, with the other locations' behind it.

A geo-replicated node stores into its own location only. A committed blob it lacks is read
from another location that has it, and copied into its own while the client receives it (the
read-through of docs/geo-replication.md): the digest is checked as the bytes pass and only
verified bytes are committed. Deleting a blob deletes it in every location (the collector's
deletion). A location whose storage fails is not used as a source for a while.

It wraps, it does not inherit, and it knows nothing of metadata: which location holds what is
recorded by the replication worker (services/replication).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence

import anyio

from portside.oci.digests import Digest, new_hasher
from portside.oci.errors import DigestInvalid
from portside.storage.base import StorageDriver, closing
from portside.storage.errors import ObjectNotFound, StorageError

__all__ = ["LocatedBlobs", "copy_object", "digest_of_key"]

log = logging.getLogger("portside.replication")

_BLOB_PREFIX = "blobs/"
_PAUSE_SECONDS = 30.0
"""How long a location whose storage failed is skipped as a source."""
_BATCH = 16 << 20
"""Bytes gathered before one append into the local upload: S3's default part size, since an
append that ends a part short rewrites that part on the next append."""


def digest_of_key(key: str) -> Digest | None:
    """The digest a blob key addresses (`blobs/<algorithm>/<xx>/<hex>`), or None."""
    if not key.startswith(_BLOB_PREFIX):
        return None
    parts = key.split("/")
    if len(parts) != 4:
        return None
    try:
        return Digest.parse(f"{parts[1]}:{parts[3]}")
    except DigestInvalid:
        return None


class LocatedBlobs:
    """A `StorageDriver`: `local` for everything, with `others` (by location) as blob sources."""

    def __init__(self, location: str, local: StorageDriver, others: Mapping[str, StorageDriver]):
        self.location = location
        self.local = local
        self.others = dict(others)
        self._paused: dict[str, float] = {}

    def __getattr__(self, name: str) -> object:
        # A driver's extras (the readiness probe) are the local driver's.
        return getattr(self.local, name)

    def driver(self, location: str) -> StorageDriver:
        """The driver of `location` (this node's own or another). KeyError if unknown."""
        return self.local if location == self.location else self.others[location]

    def locations(self) -> list[str]:
        """Every location this node knows, its own first."""
        return [self.location, *self.others]

    def usable(self, location: str) -> bool:
        """False while `location` is skipped as a source after a failure."""
        return self._paused.get(location, 0.0) <= time.monotonic()

    def failed(self, location: str, error: BaseException) -> None:
        """Note that `location`'s storage failed: skip it as a source for a while."""
        log.warning("storage of location %s failed: %s", location, error)
        self._paused[location] = time.monotonic() + _PAUSE_SECONDS

    async def _source(self, key: str) -> tuple[str, StorageDriver] | None:
        """The first usable other location holding `key`."""
        for name, driver in self.others.items():
            if not self.usable(name):
                continue
            try:
                await driver.stat(key)
            except ObjectNotFound:
                continue
            except Exception as exc:
                self.failed(name, exc)
                continue
            return name, driver
        return None

    async def stat(self, key: str) -> int:
        """See `StorageDriver.stat`; a blob is found in any location."""
        try:
            return await self.local.stat(key)
        except ObjectNotFound:
            if digest_of_key(key) is None:
                raise
        found = await self._source(key)
        if found is None:
            raise ObjectNotFound(key)
        return await found[1].stat(key)

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """See `StorageDriver.read`; a blob missing here is read through from another location."""
        # Every inner generator is closed here, not left to the garbage collector: a reader
        # that stops early must find the partial local copy already discarded.
        async with closing(self.local.read(key, offset, length)) as local:
            try:
                first = await anext(local)
            except StopAsyncIteration:
                return
            except ObjectNotFound:
                if digest_of_key(key) is None:
                    raise
            else:
                yield first
                async for chunk in local:
                    yield chunk
                return
        digest = digest_of_key(key)
        found = await self._source(key)
        if digest is None or found is None:
            raise ObjectNotFound(key)
        name, driver = found
        log.info("reading %s through from location %s", key, name)
        async with closing(driver.read(key, offset, length)) as remote:
            if offset or length is not None:  # a range: forward, keep nothing
                async for chunk in remote:
                    yield chunk
                return
            async with closing(_tee(remote, self.local, digest, key)) as teed:
                async for chunk in teed:
                    yield chunk

    def local_path(self, key: str) -> str | None:
        """See `StorageDriver.local_path`; a path only where the file exists in this location
        (one stat of the local filesystem), so a blob read through never gets a zero-copy
        answer of a missing file."""
        path = self.local.local_path(key)
        return path if path is not None and os.path.exists(path) else None

    async def presigned_get(self, key: str, expires_seconds: int) -> str | None:
        """See `StorageDriver.presigned_get`; None unless this location holds the object, so a
        blob it lacks is served (and copied) through Portside."""
        try:
            await self.local.stat(key)
        except ObjectNotFound:
            return None
        return await self.local.presigned_get(key, expires_seconds)

    async def delete(self, key: str) -> None:
        """See `StorageDriver.delete`; a blob is deleted in every location (the first failure
        is raised after every location was tried)."""
        await self.local.delete(key)
        if digest_of_key(key) is not None:
            await self._delete_elsewhere(lambda driver: driver.delete(key))

    async def delete_many(self, keys: Sequence[str]) -> None:
        """See `StorageDriver.delete_many`; blobs go in every location, as with `delete`."""
        failure: BaseException | None = None
        try:
            await self.local.delete_many(keys)
        except Exception as exc:
            failure = exc
        blob_keys = [key for key in keys if digest_of_key(key) is not None]
        try:
            if blob_keys:
                await self._delete_elsewhere(lambda driver: driver.delete_many(blob_keys))
        except Exception as exc:
            failure = failure or exc
        if failure is not None:
            raise failure

    async def _delete_elsewhere(self, delete: Callable[[StorageDriver], Awaitable[None]]) -> None:
        """`delete` in every other location; the first failure is raised after all were tried."""
        failure: BaseException | None = None
        for name, driver in self.others.items():
            try:
                await delete(driver)
            except Exception as exc:
                self.failed(name, exc)
                failure = failure or exc
        if failure is not None:
            raise failure

    async def upload_create(self, upload_id: str) -> None:
        """See `StorageDriver.upload_create`."""
        await self.local.upload_create(upload_id)

    async def upload_size(self, upload_id: str) -> int:
        """See `StorageDriver.upload_size`."""
        return await self.local.upload_size(upload_id)

    async def upload_append(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        """See `StorageDriver.upload_append`."""
        return await self.local.upload_append(upload_id, offset, chunks)

    def upload_read(self, upload_id: str) -> AsyncIterator[bytes]:
        """See `StorageDriver.upload_read`."""
        return self.local.upload_read(upload_id)

    async def upload_seal(self, upload_id: str) -> None:
        """See `StorageDriver.upload_seal`."""
        await self.local.upload_seal(upload_id)

    async def upload_commit(self, upload_id: str, key: str) -> None:
        """See `StorageDriver.upload_commit`."""
        await self.local.upload_commit(upload_id, key)

    async def upload_delete(self, upload_id: str) -> None:
        """See `StorageDriver.upload_delete`."""
        await self.local.upload_delete(upload_id)

    async def close(self) -> None:
        """Close every location's driver."""
        for driver in (self.local, *self.others.values()):
            await driver.close()


async def _tee(
    source: AsyncIterator[bytes], target: StorageDriver, digest: Digest, key: str
) -> AsyncIterator[bytes]:
    """Yield `source`'s bytes while writing them to an upload in `target`; commit them at `key`
    when they match `digest`, else (or when the reader stops early) discard them."""
    upload_id = f"replica-{secrets.token_hex(12)}"
    await target.upload_create(upload_id)
    hasher = new_hasher(digest.algorithm)
    size, pending, committed = 0, list[bytes](), False
    try:
        async for chunk in source:
            yield chunk
            await anyio.to_thread.run_sync(hasher.update, chunk)
            pending.append(chunk)
            if sum(map(len, pending)) >= _BATCH:
                size = await target.upload_append(upload_id, size, _iterate(pending))
                pending = []
        size = await target.upload_append(upload_id, size, _iterate(pending))
        if hasher.digest() != digest:
            log.warning("bytes of %s read through do not match its digest; not kept", key)
            return
        await target.upload_seal(upload_id)
        await target.upload_commit(upload_id, key)
        committed = True
    finally:
        if not committed:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await target.upload_delete(upload_id)


async def _iterate(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def copy_object(
    source: StorageDriver, target: StorageDriver, digest: Digest, key: str
) -> int:
    """Copy the blob at `key` from `source` into `target`, verifying `digest`; its size.

    Raises ObjectNotFound if the source lacks it, StorageError if the bytes do not match.
    """
    size = 0
    async with (
        closing(source.read(key)) as remote,
        closing(_tee(remote, target, digest, key)) as teed,
    ):
        async for chunk in teed:
            size += len(chunk)
    try:
        return await target.stat(key)
    except ObjectNotFound:
        raise StorageError(f"copy of {key} did not match its digest ({size} bytes read)") from None
