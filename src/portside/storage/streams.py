"""Regrouping byte streams into batches worth a thread hop or a storage request."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

__all__ = ["batches"]


async def batches(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[list[bytes]]:
    """Regroup a stream into lists of chunks holding at least `size` bytes (the last may hold
    fewer), never empty.

    Lists, not joined bytes: a consumer on a worker thread takes the chunks as they came
    (`hasher.update` per chunk, `os.writev`), so no byte is copied to regroup it. (Joining
    cost a copy of every byte, and a second buffer of `size` per request alive at once.)
    """
    pending: list[bytes] = []
    pending_len = 0
    async for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk)
        pending_len += len(chunk)
        if pending_len >= size:
            yield pending
            pending, pending_len = [], 0
    if pending:
        yield pending
