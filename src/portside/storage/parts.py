"""Cutting an upload's byte stream into fixed-size parts, for the object-store drivers.

S3 multipart uploads and Azure block blobs are both built from pieces that are stored
separately and stitched together at the end. Both drivers keep one invariant: every piece of
an upload is exactly the part size except the last, which may be shorter. A later append first
takes that short last piece back into memory and rewrites it (`PartBuffer(head=...)`), so:

- S3's rule that every part but the last is at least 5 MiB always holds, and
- the number of pieces is ceil(size / part size), so 10,000 S3 parts of 16 MiB hold 156 GiB and
  50,000 Azure blocks of 16 MiB hold 781 GiB, however the client split its chunks.

The cost is one read of less than one part per append that follows a short append; registry
clients push a layer in one request, so this is rare. Memory per append is bounded by about one
part size plus one chunk: chunks are never joined (see Part).
"""

from __future__ import annotations

import io
from bisect import bisect_right
from collections import deque
from datetime import timedelta
from itertools import accumulate
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "MAX_PRESIGN",
    "MiB",
    "Part",
    "PartBuffer",
    "ServerSideCommit",
    "check_presign_expiry",
]

MiB = 1024 * 1024

# SigV4 presigned URLs live at most seven days; SAS tokens could live longer, but a download
# redirect needs minutes, so both drivers share the stricter bound.
MAX_PRESIGN = timedelta(days=7)


class Part(io.RawIOBase):
    """One part as the chunks it was cut from, readable as a seekable file without joining them.

    HTTP clients take it as a request body (botocore reads it to sign and checksum, then seeks
    back; aiohttp streams it), so sending a part copies no bytes. Joining them, or handing over
    bytes that the clients wrap in BytesIO, measured one extra copy of the part each.
    """

    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._starts = list(accumulate((len(chunk) for chunk in chunks), initial=0))
        self._size = self._starts[-1]
        self._position = 0

    def __len__(self) -> int:
        """The part's size in bytes."""
        return self._size

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Always seekable."""
        return True

    def tell(self) -> int:
        """The read position."""
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the read position, as for any binary file."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Copy the next bytes into `buffer`; 0 at the end."""
        target = memoryview(buffer).cast("B")
        written = 0
        index = bisect_right(self._starts, self._position) - 1
        while written < len(target) and self._position < self._size:
            chunk = self._chunks[index]
            inside = self._position - self._starts[index]
            count = min(len(chunk) - inside, len(target) - written)
            target[written : written + count] = memoryview(chunk)[inside : inside + count]
            written += count
            self._position += count
            index += 1
        return written

    def getvalue(self) -> bytes:
        """All of the part's bytes, joined (a copy)."""
        return b"".join(self._chunks)


class PartBuffer:
    """Collects chunks and hands out parts of exactly `part_size` bytes, keeping the rest.

    Chunks are kept as they came and move into the Part that hands them out, so memory per
    upload is about one part size plus one chunk.
    """

    def __init__(self, part_size: int, head: bytes = b"") -> None:
        if part_size <= 0:
            raise ValueError("part_size must be positive")
        self._part_size = part_size
        self._pending: deque[bytes] = deque([head] if head else [])
        self._size = len(head)

    def __len__(self) -> int:
        """Bytes held that have not been handed out as a part."""
        return self._size

    def add(self, chunk: bytes) -> list[Part]:
        """Take `chunk`; return the full parts it completed (often none)."""
        if chunk:
            self._pending.append(chunk)
            self._size += len(chunk)
        parts: list[Part] = []
        while self._size >= self._part_size:
            parts.append(self._take(self._part_size))
        return parts

    def rest(self) -> Part:
        """Everything still held (shorter than a part), emptying the buffer."""
        return self._take(self._size)

    def _take(self, size: int) -> Part:
        taken: list[bytes] = []
        need = size
        while need:
            head = self._pending[0]
            if len(head) <= need:
                taken.append(self._pending.popleft())
                need -= len(head)
            else:
                taken.append(head[:need])
                self._pending[0] = head[need:]
                need = 0
        self._size -= size
        return Part(taken)


def check_presign_expiry(expires_seconds: int) -> timedelta:
    """Validate a presigned URL's lifetime: 1 second to 7 days."""
    expiry = timedelta(seconds=expires_seconds)
    if not timedelta(seconds=1) <= expiry <= MAX_PRESIGN:
        longest = int(MAX_PRESIGN.total_seconds())
        raise ValueError(f"expires_seconds must be between 1 and {longest}")
    return expiry


class ServerSideCommit:
    """What the object-store drivers share about committing: the store copies the pieces into
    place itself, and a piece is durable once written, so there is nothing to seal first."""

    async def upload_seal(self, upload_id: str) -> None:
        """Nothing to do (the upload is not even looked up: that would cost a round trip)."""
