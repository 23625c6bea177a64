"""`/v2/<name>/blobs/<digest>`: HEAD, GET (with Range), DELETE."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from portside.api.params import digest_param, range_header, target_of
from portside.api.state import app_state
from portside.oci.digests import Digest
from portside.services.content.blobs import BlobInfo
from portside.services.errors import BlobUnknown
from portside.services.imports.cache_blobs import TeeStream

__all__ = ["delete_blob", "get_blob"]

_OCTET = "application/octet-stream"


def _headers(blob: BlobInfo) -> dict[str, str]:
    return {
        "Docker-Content-Digest": str(blob.digest),
        "ETag": f'"{blob.digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
    }


async def get_blob(request: Request) -> Response:
    """Stream a blob (zero-copy from the filesystem when possible); HEAD sends headers only."""
    service = app_state(request).blobs
    target, digest = target_of(request), digest_param(request.path_params["digest"])
    try:
        blob = await service.stat(target, digest)
    except BlobUnknown:
        # Under a cache rule: fetched from the upstream; a plain GET streams as it arrives.
        teed = request.method == "GET" and "range" not in request.headers
        fetched = await app_state(request).cache.get_blob(target, digest, stream=teed)
        if isinstance(fetched, TeeStream):
            return _teed(digest, fetched)
        blob = fetched
    headers = _headers(blob)
    wanted = range_header(request, blob.size)
    if wanted is not None:
        start, end = service.check_range(blob, *wanted)
        headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
        headers["Content-Length"] = str(end - start + 1)
        if request.method == "HEAD":
            return Response(status_code=206, headers=headers, media_type=_OCTET)
        stream = await service.open(blob, start, end)
        return StreamingResponse(stream, status_code=206, headers=headers, media_type=_OCTET)
    headers["Content-Length"] = str(blob.size)
    if request.method == "HEAD":
        return Response(headers=headers, media_type=_OCTET)
    redirect = await service.redirect_url(blob)
    if redirect is not None:
        return RedirectResponse(redirect, status_code=307, headers=_headers(blob))
    accel = service.accel_redirect(blob)
    if accel is not None and "range" not in request.headers:
        # The proxy sends the file and its length; the digest headers pass on (its location
        # copies them), and a ranged GET stays below, where Portside checks the range itself.
        await service.ensure_stored(blob)
        del headers["Content-Length"]
        return Response(headers={**headers, "X-Accel-Redirect": accel}, media_type=_OCTET)
    if blob.path is not None and "range" not in request.headers:
        # FileResponse would act on a Range header itself; an ignored one takes the path below.
        await service.ensure_stored(blob)  # FileResponse would find a missing file too late
        return FileResponse(blob.path, headers=headers, media_type=_OCTET)
    return StreamingResponse(await service.open(blob), headers=headers, media_type=_OCTET)


def _teed(digest: Digest, tee: TeeStream) -> Response:
    """A blob's bytes as they arrive from a cache rule's upstream."""
    headers = _headers(BlobInfo(digest, tee.size or 0, None))
    if tee.size is not None:
        headers["Content-Length"] = str(tee.size)
    return StreamingResponse(tee.chunks, headers=headers, media_type=_OCTET)


async def delete_blob(request: Request) -> Response:
    """Remove the blob from this repository."""
    digest = digest_param(request.path_params["digest"])
    await app_state(request).blobs.delete(target_of(request), digest)
    return Response(status_code=202, headers={"Content-Length": "0"})
