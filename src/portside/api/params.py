"""Parsing request parts into values: names, digests, ranges, paging, bounded bodies."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request

from portside.api.state import registry_of
from portside.oci.digests import Digest
from portside.oci.errors import ManifestInvalid, ManifestTooLarge
from portside.oci.manifests import MAX_MANIFEST_BYTES
from portside.oci.names import validate_name
from portside.services.content.targets import Target
from portside.services.errors import BlobUploadInvalid, ParameterInvalid, RangeNotSatisfiable

__all__ = [
    "body_chunks",
    "content_range",
    "digest_param",
    "page_params",
    "range_header",
    "read_manifest_body",
    "target_of",
]

# Offsets are bounded to 18 digits (below 2**63): longer ones are malformed, not huge.
_CONTENT_RANGE = re.compile(r"(?:bytes )?(\d{1,18})-(\d{1,18})(?:/(?:\d{1,18}|\*))?")
_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")
_COUNT = re.compile(r"\d{1,18}")


def target_of(request: Request) -> Target:
    """The repository a /v2/<name>/... request addresses (NameInvalid if malformed)."""
    return Target(registry_of(request).id, validate_name(request.path_params["name"]))


def digest_param(value: str | None) -> Digest:
    """A required digest from the path or the query."""
    return Digest.parse(value or "")


def page_params(request: Request) -> tuple[int | None, str | None]:
    """`n` and `last` of a paged listing."""
    if not request.scope["query_string"]:
        return None, None  # the whole list, as a client asks for it first: nothing to parse
    raw_n = request.query_params.get("n")
    n = None
    if raw_n is not None:
        if not _COUNT.fullmatch(raw_n):
            raise ParameterInvalid("n must be a non-negative integer", {"n": raw_n[:20]})
        n = int(raw_n)
    return n, request.query_params.get("last") or None


def content_range(request: Request) -> tuple[int, int] | None:
    """A PATCH chunk's `Content-Range: start-end` (inclusive), if given."""
    raw = request.headers.get("content-range")
    if raw is None:
        return None
    match = _CONTENT_RANGE.fullmatch(raw.strip())
    if match is None:
        raise BlobUploadInvalid(f"malformed Content-Range {raw[:60]!r}")
    start, end = int(match[1]), int(match[2])
    if end < start:
        raise BlobUploadInvalid(f"Content-Range end before start: {raw[:60]!r}")
    return start, end


def range_header(request: Request, size: int) -> tuple[int | None, int | None] | None:
    """A blob GET's single `Range: bytes=a-b`; None when absent."""
    raw = request.headers.get("range")
    if raw is None or not raw.strip().startswith("bytes="):
        return None  # RFC 9110 §14.2: a range unit the server does not know is ignored
    match = _RANGE.fullmatch(raw.strip())
    if match is None or (not match[1] and not match[2]):
        raise RangeNotSatisfiable(size)
    return (int(match[1]) if match[1] else None, int(match[2]) if match[2] else None)


# The server reports a body that ends before its Content-Length, and a broken chunked
# encoding, as the client gone (ClientDisconnect): the client's fault, never a 500.
_CUT_SHORT = "the request body ended early (shorter than its Content-Length, or broken chunks)"


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives; BlobUploadInvalid if it is cut short."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise BlobUploadInvalid(_CUT_SHORT) from None


async def read_manifest_body(request: Request) -> bytes:
    """Read a manifest body, refusing (before reading it all) one over the size limit.

    A body cut short is ManifestInvalid: nothing of it is stored.
    """
    declared = request.headers.get("content-length")
    if declared and _COUNT.fullmatch(declared) and int(declared) > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge(f"manifest larger than {MAX_MANIFEST_BYTES} bytes")
    parts: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_MANIFEST_BYTES:
                raise ManifestTooLarge(f"manifest larger than {MAX_MANIFEST_BYTES} bytes")
            parts.append(chunk)
    except ClientDisconnect:
        raise ManifestInvalid(_CUT_SHORT) from None
    return b"".join(parts)
