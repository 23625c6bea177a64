"""Regrouping byte streams into blocks worth a thread hop or a storage request."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

__all__ = ["blocks"]


async def blocks(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """Regroup a stream into blocks of at least `size` bytes (the last may be shorter)."""
    pending: list[bytes] = []
    pending_len = 0
    async for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk)
        pending_len += len(chunk)
        if pending_len >= size:
            yield b"".join(pending) if len(pending) > 1 else pending[0]
            pending, pending_len = [], 0
    if pending:
        yield b"".join(pending)
