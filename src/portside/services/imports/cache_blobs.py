"""Blob fetches of the pull-through cache: one per blob and process, teed to the first client.

The first pull of a blob that is not stored starts a *flight*: a task, owned by the cache and
not by the request, that streams the blob from the upstream into an ordinary monolithic upload
(verified, linked, counted, committed as a push would be) and offers each chunk to the client
that started it. That client gets the bytes as they arrive; it does not wait for the whole
layer. A client that goes away, or reads more slowly than `STALL_SECONDS` allow, is cut off and
the flight goes on storing. Other pulls of the same blob meanwhile wait for the flight and are
then served from storage, so the upstream sends each blob once per process.

Across nodes nothing is shared: two nodes missing the same blob at once both fetch it, and
both commit the same verified, content-addressed bytes (the second commit changes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from portside.oci.digests import Digest
from portside.services.content.targets import Target
from portside.services.content.uploads import UploadService

if TYPE_CHECKING:
    from portside.services.imports.upstream import UpstreamClient

__all__ = ["STALL_SECONDS", "BlobFlights", "TeeStream"]

log = logging.getLogger("portside.cache")

STALL_SECONDS = 30.0
"""How long a flight waits for its client to take a chunk before it cuts that client off."""
_BUFFERED_CHUNKS = 8  # of up to 1 MiB each: what a flight holds for a slow client

FlightKey = tuple[int, str, str]


@dataclass(frozen=True, slots=True)
class TeeStream:
    """A blob on its way from the upstream: its size (if known) and its chunks."""

    size: int | None
    chunks: AsyncIterator[bytes]


class _Flight:
    """One blob being fetched: who is waiting, and how it ended."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.done = anyio.Event()
        self.size: int | None = None
        self.error: BaseException | None = None
        self.complete = False
        send, receive = anyio.create_memory_object_stream[bytes](_BUFFERED_CHUNKS)
        self.send: MemoryObjectSendStream[bytes] | None = send
        self.receive: MemoryObjectReceiveStream[bytes] | None = receive

    async def offer(self, chunk: bytes) -> None:
        """Hand a chunk to the first client, unless it left or stalled."""
        if self.send is None:
            return
        try:
            with anyio.fail_after(STALL_SECONDS):
                await self.send.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, TimeoutError):
            self.release()

    def release(self) -> None:
        """Stop offering chunks: the client has them all, left, or is cut off."""
        if self.send is not None:
            self.send.close()
            self.send = None


class BlobFlights:
    """The blob fetches in progress in this process."""

    def __init__(self, uploads: UploadService) -> None:
        self._uploads = uploads
        self._flights: dict[FlightKey, _Flight] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def fetch(
        self,
        target: Target,
        digest: Digest,
        repository: str,
        client: Callable[[], Awaitable[UpstreamClient]],
        *,
        stream: bool,
    ) -> TeeStream | None:
        """Fetch the blob from `repository` upstream into `target`, or join the fetch under way.

        With `stream` (and if this call starts the fetch) the bytes come back as they arrive;
        otherwise None once the blob is stored. The fetch's error is raised to every caller.
        """
        key = (target.registry_id, target.repository, str(digest))
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = _Flight()
            task = asyncio.create_task(self._run(key, flight, target, digest, repository, client))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if stream and flight.receive is not None:
                receive, flight.receive = flight.receive, None
                await flight.started.wait()
                if flight.error is not None:
                    receive.close()
                    raise flight.error
                return TeeStream(flight.size, _consume(flight, receive))
        await flight.done.wait()
        if flight.error is not None:
            raise flight.error
        return None

    async def aclose(self) -> None:
        """Cancel the fetches under way (their uploads are discarded)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _run(
        self,
        key: FlightKey,
        flight: _Flight,
        target: Target,
        digest: Digest,
        repository: str,
        client: Callable[[], Awaitable[UpstreamClient]],
    ) -> None:
        try:
            upstream = await client()
            async with upstream.blob(repository, digest) as chunks:
                flight.size = chunks.size
                flight.started.set()
                await self._store(flight, chunks, target, digest)
        except Exception as error:  # every caller of the flight gets it
            log.warning("cache: fetching blob %s for %s failed: %s", digest, key[1], error)
            flight.error = error
        finally:
            flight.release()
            if flight.receive is not None:
                flight.receive.close()
            flight.started.set()
            del self._flights[key]
            flight.done.set()

    async def _store(
        self, flight: _Flight, chunks: AsyncIterator[bytes], target: Target, digest: Digest
    ) -> None:
        """Read the upstream in one task, store in another: reading the network overlaps
        hashing and writing (each on its own thread), which one loop in turn would not."""
        send, receive = anyio.create_memory_object_stream[bytes](_BUFFERED_CHUNKS)
        failed: list[BaseException] = []

        async def pump() -> None:
            try:
                with send:
                    async for chunk in chunks:
                        await flight.offer(chunk)
                        await send.send(chunk)
                flight.complete = True  # verified: the client's copy is whole
                flight.release()
            except Exception as error:
                failed.append(error)  # the upload then sees a short body and stores nothing
                raise

        async def stored() -> AsyncIterator[bytes]:
            async for chunk in receive:
                yield chunk

        try:
            with receive:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(pump)
                    await self._uploads.upload_whole(target, digest, stored())
        except BaseExceptionGroup as group:
            # The upstream's failure is the cause; the upload's (a digest mismatch over a
            # short body) only follows from it.
            raise (failed[0] if failed else group.exceptions[0]) from None


async def _consume(
    flight: _Flight, receive: MemoryObjectReceiveStream[bytes]
) -> AsyncIterator[bytes]:
    """The chunks a flight offers its first client; an error if they stop short."""
    with receive:
        async for chunk in receive:
            yield chunk
    if not flight.complete:
        # Headers (with the length) are out: breaking off is how the client learns.
        if flight.error is not None:
            raise flight.error
        raise ConnectionAbortedError("the upstream blob stream stopped before its end")
