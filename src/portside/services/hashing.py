"""Incremental digests of uploads, kept between requests when possible.

An upload arrives in chunks, possibly on different processes or nodes. Each process keeps the
hash state of uploads it has seen in a small LRU cache keyed by upload id and offset. When the
cached state does not match the upload's current size (another node appended, or the process
restarted), the digest is recomputed from storage: correctness never depends on the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator

import anyio.to_thread

from portside.oci.digests import Hasher, new_hasher

__all__ = ["HashCache", "hash_stream", "hashing"]

# Hash in blocks of this size on a worker thread: hashlib releases the GIL for large updates,
# so hashing overlaps with the event loop receiving the next bytes.
_BLOCK = 1024 * 1024


class HashCache:
    """Hash states of in-progress uploads: upload id → (offset, hasher)."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[int, Hasher]] = OrderedDict()

    def take(self, upload_id: str, offset: int, algorithm: str) -> Hasher | None:
        """Remove and return the state at exactly `offset`, or None."""
        entry = self._entries.pop(upload_id, None)
        if entry is None or entry[0] != offset or entry[1].algorithm != algorithm:
            return None
        return entry[1]

    def put(self, upload_id: str, offset: int, hasher: Hasher) -> None:
        """Remember the state after `offset` bytes."""
        self._entries[upload_id] = (offset, hasher)
        self._entries.move_to_end(upload_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, upload_id: str) -> None:
        """Drop any state for the upload."""
        self._entries.pop(upload_id, None)


async def hashing(chunks: AsyncIterable[bytes], hasher: Hasher) -> AsyncIterator[bytes]:
    """Pass `chunks` through in blocks of about 1 MiB, feeding each block to `hasher` first."""
    pending: list[bytes] = []
    pending_len = 0
    async for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk)
        pending_len += len(chunk)
        if pending_len >= _BLOCK:
            block = b"".join(pending)
            pending, pending_len = [], 0
            await anyio.to_thread.run_sync(hasher.update, block)
            yield block
    if pending:
        block = b"".join(pending)
        await anyio.to_thread.run_sync(hasher.update, block)
        yield block


async def hash_stream(chunks: AsyncIterable[bytes], algorithm: str) -> Hasher:
    """Hash a whole stream (used to rebuild a state the cache did not have)."""
    hasher = new_hasher(algorithm)
    async for _ in hashing(chunks, hasher):
        pass
    return hasher
