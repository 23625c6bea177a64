"""Azure Blob Storage driver (tested on Azurite).

Library: azure-storage-blob (its aio client). Measured on Azurite on this project's 2-core
machine, 256 MiB streamed up in 16 MiB blocks one at a time, then streamed down:
azure-storage-blob 78-85 MiB/s up, 300 down with 8 MiB read chunks (117-149 with the default
4 MiB, 338 with 16 MiB); obstore 97 up, 403 down (161 up with four blocks in flight). Azurite,
one Node.js process, is the bottleneck either way. obstore loses on function: it hides the
block calls (stage block / get block list / commit block list) inside one `put`, and resuming an
upload on another node needs them. The SDK exposes every call, ships type information, and
shares aiohttp with the S3 driver. This driver on the same data: append 116-181 MiB/s, read
275 MiB/s; commit takes milliseconds on Azurite at any size (1 GiB included).

Layout (below the optional key prefix): an upload is one block blob, `uploads/<id>`. An append
stages new blocks, then commits the longer block list with If-Match on the blob's ETag, so the
committed block list *is* the upload's state: readable by `upload_read`, continued by any node,
and two concurrent appends cannot both win. Blocks are `block_size` bytes except the last (see
portside.storage.parts): 50,000 blocks of 16 MiB hold 781 GiB.

Commit (portside.storage.azure_commit): server-side and atomic, and an existing blob at the key
is kept. On Azure, each of the upload's blocks is staged onto the content-addressed key with Put
Block From URL (a byte range of the upload blob, `commit_concurrency` at a time, each call at
most one block), then Put Block List with If-None-Match: * makes the blob appear at once. Azurite
has no Put Block From URL (501), so there the driver falls back to Copy Blob from the upload's
unsigned URL (authorized by the account's Shared Key; Azurite shares the extents, instantly).
Copy Blob from a SAS URL failed with HTTP 500 past 512 MiB on Azurite: it validates a SAS source
by fetching the whole blob into one JavaScript string. A blob whose copy is pending or failed is
treated as absent by `stat` and `read`. The upload is deleted after the commit. SAS URLs (Put
Block From URL sources, `presigned_get`) need the account key. SDK errors that the driver does
not map to a contract error are raised as StorageError, naming the operation and Azure's code.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
from azure.core import MatchConditions
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobSasPermissions, generate_blob_sas
from azure.storage.blob.aio import BlobClient, BlobServiceClient

from portside.storage.azure_commit import Committer, azure_errors, complete
from portside.storage.base import delete_each
from portside.storage.errors import (
    ObjectNotFound,
    StorageError,
    UploadNotFound,
    UploadOffsetMismatch,
)
from portside.storage.layout import upload_key
from portside.storage.parts import MiB, Part, PartBuffer, ServerSideCommit, check_presign_expiry

__all__ = ["AzureBlobDriver", "AzureOptions"]

MAX_BLOCKS = 50_000
MAX_BLOCK = 4000 * MiB
_SOURCE_SAS_LIFETIME = timedelta(hours=1)  # signed per block, used at once


@dataclass(frozen=True)
class AzureOptions:
    """Where and how the Azure Blob driver stores bytes.

    Give either `connection_string`, or `account_name` and `account_key` (with `endpoint` for
    anything but the public cloud).
    """

    container: str
    connection_string: str | None = field(default=None, repr=False)
    account_name: str | None = None
    account_key: str | None = field(default=None, repr=False)
    endpoint: str | None = None  # blob service URL; default https://<account>.blob.core.windows.net
    prefix: str = ""  # every key is stored below this folder
    block_size: int = 16 * MiB  # the largest blob is 50,000 x block_size (781 GiB at 16 MiB)
    read_chunk_size: int = 8 * MiB  # bytes per ranged GET while streaming a read
    commit_concurrency: int = 8  # Put Block From URL calls in flight while committing
    copy_timeout_seconds: float = 600.0  # how long a commit waits for a Copy Blob (Azurite)

    def __post_init__(self) -> None:
        if not self.connection_string and not (self.account_name and self.account_key):
            raise ValueError("give connection_string, or account_name and account_key")
        if not MiB <= self.block_size <= MAX_BLOCK:
            raise ValueError(f"block_size must be between {MiB} and {MAX_BLOCK} bytes")
        if self.read_chunk_size < 64 * 1024 or self.copy_timeout_seconds <= 0:
            raise ValueError("read_chunk_size must be at least 64 KiB, copy_timeout positive")
        if self.commit_concurrency < 1:
            raise ValueError("commit_concurrency must be at least 1")


@dataclass
class _Append:
    """What an append has done so far; `intact` is False while a block write is in flight."""

    blocks: list[tuple[str, int]]  # committed (or newly staged) block ids and sizes
    etag: str
    buffer: PartBuffer | None = None
    intact: bool = True


class AzureBlobDriver(ServerSideCommit):
    """Objects and resumable uploads in one Azure Blob container."""

    def __init__(self, options: AzureOptions) -> None:
        self._options = options
        self._prefix = options.prefix.strip("/") + "/" if options.prefix.strip("/") else ""
        get_size = options.read_chunk_size
        key: object
        if options.connection_string:
            self._service = BlobServiceClient.from_connection_string(
                options.connection_string, max_single_get_size=get_size, max_chunk_get_size=get_size
            )
            key = getattr(self._service.credential, "account_key", None)
        else:
            name, key = options.account_name or "", options.account_key or ""
            self._service = BlobServiceClient(
                options.endpoint or f"https://{name}.blob.core.windows.net",
                credential=AzureNamedKeyCredential(name, key),
                max_single_get_size=get_size,
                max_chunk_get_size=get_size,
            )
        self._container = self._service.get_container_client(options.container)
        self._account_key = key if isinstance(key, str) else None
        self._committer = Committer(
            sign=self._sign_source if self._account_key else None,
            concurrency=options.commit_concurrency,
            copy_timeout=options.copy_timeout_seconds,
        )

    def _blob(self, key: str) -> BlobClient:
        return self._container.get_blob_client(self._prefix + key)

    def _upload(self, upload_id: str) -> BlobClient:
        return self._blob(upload_key(upload_id))

    async def stat(self, key: str) -> int:
        """Size of the blob; a blob whose copy has not finished does not exist yet."""
        with azure_errors(f"stat of {key}"):
            try:
                properties = await self._blob(key).get_blob_properties()
            except ResourceNotFoundError:
                raise ObjectNotFound(key) from None
        if not complete(properties):
            raise ObjectNotFound(key)
        return properties.size

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream the blob in ranged GETs of `read_chunk_size`."""
        if length == 0:
            await self.stat(key)
            return
        with azure_errors(f"read of {key}"):
            try:
                # The SDK wants an offset with every length, but no range at all for a whole
                # blob (a range on an empty blob is answered 416).
                start = None if offset == 0 and length is None else offset
                download = await self._blob(key).download_blob(offset=start, length=length)
            except ResourceNotFoundError:
                raise ObjectNotFound(key) from None
            except HttpResponseError as exc:
                if exc.status_code == 416:  # offset at or past the end
                    return
                raise
            if not complete(download.properties):
                raise ObjectNotFound(key)
            async for chunk in download.chunks():
                yield chunk

    def local_path(self, key: str) -> str | None:
        """Object stores have no local paths."""
        return None

    async def delete(self, key: str) -> None:
        """Delete the blob if it exists."""
        with azure_errors(f"delete of {key}"), contextlib.suppress(ResourceNotFoundError):
            await self._blob(key).delete_blob()

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Delete the blobs, sixteen requests at a time, each as `delete` does. (Blob Batch
        would carry 256 deletions per request; not used yet, and not measured.)"""
        await delete_each(self.delete, keys)

    async def upload_create(self, upload_id: str) -> None:
        """Create an empty block blob."""
        with azure_errors(f"create of upload {upload_id}"):
            await self._upload(upload_id).upload_blob(b"", overwrite=True)

    async def upload_size(self, upload_id: str) -> int:
        """The upload blob's committed size."""
        with azure_errors(f"size of upload {upload_id}"):
            try:
                return (await self._upload(upload_id).get_blob_properties()).size
            except ResourceNotFoundError:
                raise UploadNotFound(upload_id) from None

    async def upload_append(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        """Stage full blocks as they fill and the short rest, then commit the block list."""
        with azure_errors(f"append to upload {upload_id}"):
            return await self._append(upload_id, offset, chunks)

    async def _append(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        blob = self._upload(upload_id)
        try:
            properties = await blob.get_blob_properties()
            committed, _ = await blob.get_block_list("committed")
        except ResourceNotFoundError:
            raise UploadNotFound(upload_id) from None
        if properties.size != offset:
            raise UploadOffsetMismatch(properties.size, offset)
        work = _Append([(block.id, block.size) for block in committed], properties.etag)
        old = list(work.blocks)
        try:
            await self._fill(upload_id, blob, work, chunks)
        except BaseException:
            # The sender failed (or we were cancelled) between blocks: keep what arrived. If a
            # block write was in flight instead, the committed list is the prefix to keep.
            if work.intact:
                with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await self._settle(upload_id, blob, work, old)
            raise
        return await self._settle(upload_id, blob, work, old)

    async def _fill(
        self, upload_id: str, blob: BlobClient, work: _Append, chunks: AsyncIterable[bytes]
    ) -> None:
        async for chunk in chunks:
            if not chunk:
                continue
            if work.buffer is None:
                work.intact = False
                head = await self._take_short_tail(upload_id, blob, work)
                work.buffer = PartBuffer(self._options.block_size, head)
                work.intact = True
            ready = deque(work.buffer.add(chunk))
            while ready:  # popped, so that a sent part is freed at once
                work.intact = False
                await _stage(blob, work, ready.popleft())
                work.intact = True

    async def _take_short_tail(self, upload_id: str, blob: BlobClient, work: _Append) -> bytes:
        """Drop a short last block from `work` and return its bytes, to be staged again."""
        if not work.blocks or work.blocks[-1][1] >= self._options.block_size:
            return b""
        size = sum(block_size for _, block_size in work.blocks)
        last = work.blocks[-1][1]
        try:
            download = await blob.download_blob(
                offset=size - last,
                length=last,
                etag=work.etag,
                match_condition=MatchConditions.IfNotModified,
            )
            data = await download.readall()
        except ResourceModifiedError:  # a concurrent append committed: the upload moved on
            raise UploadOffsetMismatch(await self.upload_size(upload_id), size) from None
        work.blocks.pop()
        return data

    async def _settle(
        self, upload_id: str, blob: BlobClient, work: _Append, old: list[tuple[str, int]]
    ) -> int:
        """Stage the short rest as the last block, then commit the block list."""
        if work.buffer is not None and len(work.buffer):
            work.intact = False
            await _stage(blob, work, work.buffer.rest())
            work.intact = True
        size = sum(block_size for _, block_size in work.blocks)
        if work.blocks == old:
            return size
        try:
            await blob.commit_block_list(
                [BlobBlock(block_id) for block_id, _ in work.blocks],
                etag=work.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceNotFoundError:
            raise UploadNotFound(upload_id) from None
        except ResourceModifiedError:  # another append won the race; ours appended nothing
            offset = sum(block_size for _, block_size in old)
            raise UploadOffsetMismatch(await self.upload_size(upload_id), offset) from None
        return size

    async def upload_read(self, upload_id: str) -> AsyncIterator[bytes]:
        """Stream the upload blob's committed bytes."""
        with azure_errors(f"read of upload {upload_id}"):
            try:
                download = await self._upload(upload_id).download_blob()
            except ResourceNotFoundError:
                raise UploadNotFound(upload_id) from None
            async for chunk in download.chunks():
                yield chunk

    async def upload_commit(self, upload_id: str, key: str) -> None:
        """Assemble the upload server-side at `key` unless a blob is there; delete the upload."""
        source = self._upload(upload_id)
        with azure_errors(f"commit of upload {upload_id} to {key}"):
            try:
                properties = await source.get_blob_properties()
                committed, _ = await source.get_block_list("committed")
            except ResourceNotFoundError:
                raise UploadNotFound(upload_id) from None
            sizes = [block.size for block in committed]
            await self._committer.commit(source, properties.etag, sizes, self._blob(key))
        await self.upload_delete(upload_id)

    async def upload_delete(self, upload_id: str) -> None:
        """Delete the upload blob (its uncommitted blocks go with it)."""
        with (
            azure_errors(f"delete of upload {upload_id}"),
            contextlib.suppress(ResourceNotFoundError),
        ):
            await self._upload(upload_id).delete_blob()

    async def presigned_get(self, key: str, expires_seconds: int) -> str | None:
        """A read-only SAS URL for the blob, or None without an account key to sign with."""
        expiry = check_presign_expiry(expires_seconds)
        if self._account_key is None:
            return None
        return self._signed_url(self._blob(key), expiry)

    async def readiness(self) -> str:
        """ "ok", or what keeps this node from using the container (it does not exist, access is
        denied); raises if the service does not answer. One attempt with short timeouts: a
        readiness probe must answer within its deadline, not after the SDK's retries."""
        try:
            await self._container.get_container_properties(
                retry_total=0, connection_timeout=0.5, read_timeout=0.8
            )
        except ResourceNotFoundError:
            return f"container {self._options.container} does not exist"
        except HttpResponseError as exc:
            if exc.status_code in (401, 403):
                return f"access to container {self._options.container} is denied"
            return f"unavailable ({exc.status_code})"
        return "ok"

    async def close(self) -> None:
        """Close the service client and its connection pool."""
        with azure_errors("close"):
            await self._service.close()

    def _sign_source(self, blob: BlobClient) -> str:
        """A short-lived read-only SAS URL for `blob`, the source of a Put Block From URL."""
        return self._signed_url(blob, _SOURCE_SAS_LIFETIME)

    def _signed_url(self, blob: BlobClient, lifetime: timedelta) -> str:
        """The blob's URL with a read-only SAS when there is a key; else its plain URL."""
        if self._account_key is None:
            return blob.url
        sas = generate_blob_sas(
            account_name=blob.account_name or "",
            container_name=blob.container_name,
            blob_name=blob.blob_name,
            account_key=self._account_key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(UTC) + lifetime,
        )
        return f"{blob.url}?{sas}"


async def _stage(blob: BlobClient, work: _Append, data: Part) -> None:
    """Stage one block under a fresh id and add it to `work`."""
    if len(work.blocks) >= MAX_BLOCKS:
        raise StorageError(f"{blob.blob_name} would exceed {MAX_BLOCKS} blocks")
    # Ids must have one length within a blob; random ids never collide with a concurrent append.
    block_id = base64.b64encode(uuid.uuid4().hex.encode()).decode()
    await blob.stage_block(block_id, data, length=len(data))
    work.blocks.append((block_id, len(data)))
