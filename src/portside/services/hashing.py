"""Hashing bytes as they stream past, off the event loop."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

import anyio.to_thread

from portside.oci.digests import Hasher, new_hasher

__all__ = ["hash_stream", "hashing"]

# Hash in blocks of this size on a worker thread: the hasher releases the GIL while it works,
# so hashing overlaps with the event loop receiving the next bytes.
_BLOCK = 1024 * 1024


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
