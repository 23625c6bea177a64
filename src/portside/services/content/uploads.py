"""Blob uploads: sessions, chunks, cross-repository mounts, verification and commit."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import timedelta

import anyio

from portside.metadata.blobs import BlobStore
from portside.metadata.clock import utcnow
from portside.metadata.records import UploadRecord
from portside.metadata.uploads import UploadStore
from portside.oci.digests import Digest, Hasher, new_hasher
from portside.oci.errors import DigestInvalid
from portside.services.content.hashing import hash_stream, hashing
from portside.services.content.locks import lock_errors
from portside.services.content.targets import Target
from portside.services.errors import (
    BlobUploadUnknown,
    SizeInvalid,
    UploadRangeInvalid,
)
from portside.storage.base import StorageDriver
from portside.storage.errors import ObjectNotFound, UploadNotFound, UploadOffsetMismatch
from portside.storage.layout import blob_key, validate_upload_id

__all__ = ["UploadService", "UploadStatus"]


@dataclass(frozen=True, slots=True)
class UploadStatus:
    """Where an upload stands: its id and how many bytes it holds."""

    id: str
    size: int


class UploadService:
    """Turns streamed bytes into verified, content-addressed blobs."""

    def __init__(
        self,
        blobs: BlobStore,
        uploads: UploadStore,
        driver: StorageDriver,
        *,
        expiry: timedelta,
    ) -> None:
        self._blobs = blobs
        self._uploads = uploads
        self._driver = driver
        self._expiry = expiry

    async def start(self, target: Target) -> UploadStatus:
        """Open a new, empty upload session; Locked if the repository is write-disabled."""
        upload_id = secrets.token_urlsafe(24)
        await self._driver.upload_create(upload_id)
        try:
            with lock_errors():
                await self._uploads.create(
                    target.registry_id, target.repository, upload_id, new_hasher().state()
                )
        except Exception:
            await self._driver.upload_delete(upload_id)
            raise
        return UploadStatus(upload_id, 0)

    async def mount(self, target: Target, digest: Digest, source: str) -> int | None:
        """Link a blob from `source` (which the caller may read); its size, or None.

        Locked if the target repository is write-disabled.
        """
        with lock_errors():
            return await self._blobs.mount(
                target.registry_id, source, target.repository, str(digest)
            )

    async def status(self, target: Target, upload_id: str) -> UploadStatus:
        """The session's current size."""
        await self._session(target, upload_id)
        return UploadStatus(upload_id, await self._size(upload_id))

    async def append(
        self,
        target: Target,
        upload_id: str,
        chunks: AsyncIterable[bytes],
        content_range: tuple[int, int] | None = None,
    ) -> UploadStatus:
        """Append a chunk; with `content_range` (inclusive) it must continue the upload."""
        record = await self._session(target, upload_id)
        size = await self._size(upload_id)
        if content_range is not None and content_range[0] != size:
            raise UploadRangeInvalid(size)
        new_size = await self._append(record, size, chunks)
        if content_range is not None and new_size - size != content_range[1] - content_range[0] + 1:
            raise SizeInvalid(
                f"Content-Range announced {content_range[1] - content_range[0] + 1} bytes, "
                f"received {new_size - size}"
            )
        return UploadStatus(upload_id, new_size)

    async def finish(
        self,
        target: Target,
        upload_id: str,
        digest: Digest,
        chunks: AsyncIterable[bytes] | None,
        content_range: tuple[int, int] | None = None,
    ) -> int:
        """Append a last chunk, verify the digest, and commit the blob; returns its size.

        A last chunk whose `content_range` does not start where the upload ends is refused
        (UploadRangeInvalid, 416) before anything is appended, and the session stays open.

        On a digest mismatch the session is discarded: nothing unverified ever becomes visible.
        The bytes are committed inside the transaction that records the blob, after its row
        is locked and the link has passed the storage quota (docs/gc.md): so a collector
        deleting the same digest cannot slip in between, and a push refused (Locked,
        QuotaExceeded) discards the session and leaves no bytes behind.
        """
        record = await self._session(target, upload_id)
        size = await self._size(upload_id)
        if content_range is not None and content_range[0] != size:
            raise UploadRangeInvalid(size)
        hasher = _resume(record, size)
        if chunks is not None:
            size, hasher = await self._stream(upload_id, size, hasher, chunks)
        if hasher is None or hasher.algorithm != digest.algorithm:
            # The stored state is missing or stale (a crash between append and save), or the
            # client chose another algorithm: hash what storage holds.
            hasher = await hash_stream(self._driver.upload_read(upload_id), digest.algorithm)
        if hasher.digest() != digest:
            await self._discard(upload_id)
            raise DigestInvalid(
                f"content digest {hasher.digest()} does not match the requested {digest}"
            )
        # The slow part of a commit (fsync) happens here, outside the transaction.
        await self._driver.upload_seal(upload_id)
        commit = _ByteCommit(self._driver, upload_id, blob_key(digest))
        try:
            with lock_errors():
                await self._blobs.add(
                    target.registry_id,
                    target.repository,
                    str(digest),
                    size,
                    commit=commit,
                    upload_id=upload_id,
                )
        except BaseException:
            if not commit.done:
                await self._driver.upload_delete(upload_id)
            await self._uploads.delete(upload_id)
            raise
        return size

    async def upload_whole(
        self, target: Target, digest: Digest, chunks: AsyncIterable[bytes]
    ) -> int:
        """A monolithic upload: one request carries the whole blob.

        If it fails (a body cut short, a digest mismatch, a lock), its session goes with it:
        no client knows the session's id, so nothing could resume it.
        """
        status = await self.start(target)
        try:
            return await self.finish(target, status.id, digest, chunks)
        except BaseException:
            # The first error is the answer; a session left behind by a failed discard expires.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self._discard(status.id)
            raise

    async def cancel(self, target: Target, upload_id: str) -> None:
        """Abandon a session and its bytes."""
        await self._session(target, upload_id)
        await self._discard(upload_id)

    async def expire_idle(self) -> int:
        """Remove sessions idle for longer than the expiry; returns how many went."""
        removed = 0
        for upload_id in await self._uploads.idle_since(utcnow() - self._expiry):
            await self._discard(upload_id)
            removed += 1
        return removed

    async def _session(self, target: Target, upload_id: str) -> UploadRecord:
        unknown = BlobUploadUnknown("upload unknown to registry", {"uuid": upload_id[:80]})
        if not validate_upload_id(upload_id):
            raise unknown
        record = await self._uploads.get(target.registry_id, target.repository, upload_id)
        if record is None or record.updated_at < utcnow() - self._expiry:
            raise unknown
        return record

    async def _size(self, upload_id: str) -> int:
        try:
            return await self._driver.upload_size(upload_id)
        except UploadNotFound:
            raise BlobUploadUnknown("upload bytes are gone", {"uuid": upload_id}) from None

    async def _append(self, record: UploadRecord, size: int, chunks: AsyncIterable[bytes]) -> int:
        new_size, hasher = await self._stream(record.id, size, _resume(record, size), chunks)
        state = None if hasher is None else hasher.state()
        await self._uploads.save_progress(record.id, new_size, state)
        return new_size

    async def _stream(
        self, upload_id: str, size: int, hasher: Hasher | None, chunks: AsyncIterable[bytes]
    ) -> tuple[int, Hasher | None]:
        """Append `chunks` at `size`, hashing on the way when a state is at hand."""
        stream = chunks if hasher is None else hashing(chunks, hasher)
        try:
            return await self._driver.upload_append(upload_id, size, stream), hasher
        except UploadOffsetMismatch as exc:
            raise UploadRangeInvalid(exc.expected) from None
        except UploadNotFound:
            raise BlobUploadUnknown("upload bytes are gone", {"uuid": upload_id}) from None

    async def _discard(self, upload_id: str) -> None:
        await self._driver.upload_delete(upload_id)
        await self._uploads.delete(upload_id)


class _ByteCommit:
    """Puts an upload's bytes at the blob's key, from inside BlobStore.add's transaction.

    The transaction may run again after losing a race; the bytes were then committed by the
    first run (the upload is gone) and must still be there, or the push fails.
    """

    def __init__(self, driver: StorageDriver, upload_id: str, key: str) -> None:
        self._driver = driver
        self._upload_id = upload_id
        self._key = key
        self.done = False

    async def __call__(self) -> None:
        if not self.done:
            await self._driver.upload_commit(self._upload_id, self._key)
            self.done = True
            return
        try:
            await self._driver.stat(self._key)
        except ObjectNotFound:
            raise BlobUploadUnknown(
                "the blob was collected while its upload was being recorded; upload it again",
                {"uuid": self._upload_id},
            ) from None


def _resume(record: UploadRecord, size: int) -> Hasher | None:
    """The stored hash state, if it covers exactly the `size` bytes storage holds."""
    if record.hash_state is None or record.hashed_size != size:
        return None
    try:
        return Hasher.restore("sha256", record.hash_state)
    except DigestInvalid:
        return None
