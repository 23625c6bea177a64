"""`/v2/<name>/blobs/uploads/`: start (monolithic, mount), PATCH, PUT, GET status, DELETE."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.requests import Request
from starlette.responses import Response

from portside.api.params import body_chunks, content_range, digest_param, target_of
from portside.api.state import app_state, grant_of
from portside.oci.names import validate_name
from portside.services.content.targets import Target
from portside.services.content.uploads import UploadStatus
from portside.services.errors import UploadRangeInvalid

__all__ = ["cancel_upload", "finish_upload", "patch_upload", "start_upload", "upload_status"]


def _session(target: Target, status: UploadStatus, code: int = 202) -> Response:
    headers = {
        "Location": f"/v2/{target.repository}/blobs/uploads/{status.id}",
        "Range": f"0-{max(status.size - 1, 0)}",
        "Docker-Upload-UUID": status.id,
        "Content-Length": "0",
    }
    return Response(status_code=code, headers=headers)


def _created(target: Target, digest: str) -> Response:
    headers = {
        "Location": f"/v2/{target.repository}/blobs/{digest}",
        "Docker-Content-Digest": digest,
        "Content-Length": "0",
    }
    return Response(status_code=201, headers=headers)


async def start_upload(request: Request) -> Response:
    """POST: a mount (`?mount=&from=`), a monolithic upload (`?digest=`), or a new session."""
    target = target_of(request)
    await app_state(request).cache.check_push(target)
    uploads = app_state(request).uploads
    query = request.query_params
    if "mount" in query:
        digest = digest_param(query["mount"])
        source = query.get("from")
        readable = bool(source) and grant_of(request).allows(
            "repository", validate_name(source or ""), "pull"
        )
        if readable and await uploads.mount(target, digest, source or "") is not None:
            return _created(target, str(digest))
    elif "digest" in query:
        digest = digest_param(query["digest"])
        await uploads.upload_whole(target, digest, body_chunks(request))
        return _created(target, str(digest))
    return _session(target, await uploads.start(target))


@contextmanager
def _resumable(target: Target, upload_id: str) -> Iterator[None]:
    """A 416 also carries the session's Location, so the client continues without a GET."""
    try:
        yield
    except UploadRangeInvalid as exc:
        exc.session = (target.repository, upload_id)
        raise


async def patch_upload(request: Request) -> Response:
    """PATCH: append a chunk (streamed, or with Content-Range)."""
    target = target_of(request)
    upload_id = request.path_params["uuid"]
    with _resumable(target, upload_id):
        status = await app_state(request).uploads.append(
            target, upload_id, body_chunks(request), content_range(request)
        )
    return _session(target, status)


async def finish_upload(request: Request) -> Response:
    """PUT `?digest=`: append an optional last chunk, verify, commit."""
    target = target_of(request)
    digest = digest_param(request.query_params.get("digest"))
    has_body = request.headers.get("content-length", "0") != "0" or (
        "chunked" in request.headers.get("transfer-encoding", "")
    )
    upload_id = request.path_params["uuid"]
    chunks = body_chunks(request) if has_body else None
    with _resumable(target, upload_id):
        await app_state(request).uploads.finish(
            target, upload_id, digest, chunks, content_range(request) if has_body else None
        )
    return _created(target, str(digest))


async def upload_status(request: Request) -> Response:
    """GET: how far the upload has come."""
    target = target_of(request)
    status = await app_state(request).uploads.status(target, request.path_params["uuid"])
    return _session(target, status, code=204)


async def cancel_upload(request: Request) -> Response:
    """DELETE: abandon the upload."""
    target = target_of(request)
    await app_state(request).uploads.cancel(target, request.path_params["uuid"])
    return Response(status_code=204)
