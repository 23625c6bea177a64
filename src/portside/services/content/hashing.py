"""Hashing bytes as they stream past, off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator

from portside.oci.digests import Hasher, new_hasher
from portside.storage.streams import blocks

__all__ = ["hash_stream", "hashing"]

# Hash in blocks of this size on a worker thread: the hasher releases the GIL while it works.
_BLOCK = 2 * 1024 * 1024


async def hashing(chunks: AsyncIterable[bytes], hasher: Hasher) -> AsyncIterator[bytes]:
    """Pass `chunks` through in blocks, feeding each block to `hasher` on a worker thread.

    A block is handed on while it is being hashed, so hashing overlaps with whatever the
    consumer does with it (writing it to storage); blocks are hashed strictly in order.
    """
    loop = asyncio.get_running_loop()
    inflight: asyncio.Future[None] | None = None
    try:
        async for block in blocks(chunks, _BLOCK):
            if inflight is not None:
                await inflight
            inflight = loop.run_in_executor(None, hasher.update, block)
            yield block
    finally:
        if inflight is not None:
            await inflight


async def hash_stream(chunks: AsyncIterable[bytes], algorithm: str) -> Hasher:
    """Hash a whole stream (used to rebuild a state the cache did not have)."""
    hasher = new_hasher(algorithm)
    async for _ in hashing(chunks, hasher):
        pass
    return hasher
