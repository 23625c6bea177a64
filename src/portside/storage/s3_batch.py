"""S3 operations the S3 driver composes: assembling one object from many server-side, deleting
everything under a prefix, existence checks, and reading S3's error codes.

Functions over a client rather than driver methods, so that s3.py stays about uploads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

import anyio
from botocore.exceptions import ClientError

from portside.storage.errors import StorageError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import (
        CompletedMultipartUploadTypeDef,
        CopySourceTypeDef,
        ObjectIdentifierTypeDef,
    )

__all__ = [
    "Conflict",
    "assemble",
    "delete_keys",
    "delete_prefix",
    "error_code",
    "exists",
    "is_missing",
    "unless_conflict",
]

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_CONFLICT = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})


class Conflict(Exception):
    """A conditional write lost: the object exists, or changed, already."""


def error_code(exc: ClientError) -> str:
    """S3's error code ("NoSuchKey", "PreconditionFailed", "404" for a HEAD...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_missing(exc: ClientError) -> bool:
    """True if the error says the key (or upload) does not exist."""
    return error_code(exc) in _MISSING


async def exists(client: S3Client, bucket: str, key: str) -> bool:
    """True if an object is stored at `key` (a HEAD request)."""
    try:
        await client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_missing(exc):
            return False
        raise
    return True


async def unless_conflict(operation: Awaitable[object]) -> None:
    """Await a conditional write, raising Conflict when its precondition failed."""
    try:
        await operation
    except ClientError as exc:
        if error_code(exc) in _CONFLICT:
            raise Conflict() from None
        raise


async def assemble(
    client: S3Client,
    bucket: str,
    sources: list[str],
    target: str,
    *,
    concurrency: int,
    conditional: bool,
) -> None:
    """Make `target` the concatenation of `sources` without moving bytes through this process.

    No sources: an empty object. One: CopyObject (sources are at most 5 GiB). Several: a
    multipart upload on `target` whose parts are UploadPartCopy calls, so `target` appears
    atomically at CompleteMultipartUpload. With `conditional`, an existing `target` (a concurrent
    commit of the same content) wins and this returns quietly.
    """
    if len(sources) > 1:
        await _copy_parts(client, bucket, sources, target, concurrency, conditional)
    elif sources:
        source: CopySourceTypeDef = {"Bucket": bucket, "Key": sources[0]}
        await client.copy_object(Bucket=bucket, Key=target, CopySource=source)
    elif conditional:
        with contextlib.suppress(Conflict):
            await unless_conflict(
                client.put_object(Bucket=bucket, Key=target, Body=b"", IfNoneMatch="*")
            )
    else:
        await client.put_object(Bucket=bucket, Key=target, Body=b"")


async def _copy_parts(
    client: S3Client,
    bucket: str,
    sources: list[str],
    target: str,
    concurrency: int,
    conditional: bool,
) -> None:
    created = await client.create_multipart_upload(Bucket=bucket, Key=target)
    multipart_id = created["UploadId"]
    try:
        etags = await _copy_all(client, bucket, sources, target, multipart_id, concurrency)
        parts: CompletedMultipartUploadTypeDef = {
            "Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]
        }
        if conditional:
            await unless_conflict(
                client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=target,
                    UploadId=multipart_id,
                    MultipartUpload=parts,
                    IfNoneMatch="*",
                )
            )
        else:
            await client.complete_multipart_upload(
                Bucket=bucket, Key=target, UploadId=multipart_id, MultipartUpload=parts
            )
    except BaseException as exc:
        with anyio.CancelScope(shield=True), contextlib.suppress(ClientError):
            await client.abort_multipart_upload(Bucket=bucket, Key=target, UploadId=multipart_id)
        if not isinstance(exc, Conflict):
            raise


async def _copy_all(
    client: S3Client,
    bucket: str,
    sources: list[str],
    target: str,
    multipart_id: str,
    concurrency: int,
) -> list[str]:
    """UploadPartCopy every source, `concurrency` at a time; their ETags in part order."""
    etags = [""] * len(sources)
    failures: list[Exception] = []
    limiter = anyio.CapacityLimiter(concurrency)

    async def copy(number: int, source: str, scope: anyio.CancelScope) -> None:
        try:
            async with limiter:
                result = await client.upload_part_copy(
                    Bucket=bucket,
                    Key=target,
                    UploadId=multipart_id,
                    PartNumber=number,
                    CopySource={"Bucket": bucket, "Key": source},
                )
            etags[number - 1] = result["CopyPartResult"]["ETag"]
        except Exception as exc:  # the first failure stops the rest and is raised as is
            failures.append(exc)
            scope.cancel()

    async with anyio.create_task_group() as tasks:
        for number, source in enumerate(sources, 1):
            tasks.start_soon(copy, number, source, tasks.cancel_scope)
    if failures:
        raise failures[0]
    return etags


_DELETE_BATCH = 1000
"""Keys per DeleteObjects request: S3's maximum."""


async def delete_keys(client: S3Client, bucket: str, keys: Sequence[str]) -> None:
    """Delete the objects (missing ones are no error), a thousand per request; every batch is
    sent, then the first batch's errors raised."""
    failure: StorageError | None = None
    for start in range(0, len(keys), _DELETE_BATCH):
        objects: list[ObjectIdentifierTypeDef] = [
            {"Key": key} for key in keys[start : start + _DELETE_BATCH]
        ]
        deleted = await client.delete_objects(
            Bucket=bucket, Delete={"Objects": objects, "Quiet": True}
        )
        if deleted.get("Errors") and failure is None:
            failure = StorageError(
                f"could not delete {len(deleted['Errors'])} objects: {deleted['Errors'][:3]}"
            )
    if failure is not None:
        raise failure


async def delete_prefix(client: S3Client, bucket: str, prefix: str) -> None:
    """Delete every object whose key starts with `prefix`, a thousand per request."""
    token: str | None = None
    while True:
        if token is None:
            listing = await client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        else:
            listing = await client.list_objects_v2(
                Bucket=bucket, Prefix=prefix, ContinuationToken=token
            )
        await delete_keys(client, bucket, [item["Key"] for item in listing.get("Contents", [])])
        token = listing.get("NextContinuationToken")
        if not listing.get("IsTruncated") or token is None:
            return
