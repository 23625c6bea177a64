"""`/v2/<name>/manifests/<reference>`: HEAD, GET, PUT, DELETE."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from portside.api.events import event_context
from portside.api.params import read_manifest_body, target_of
from portside.api.state import app_state
from portside.oci import media_types as mt
from portside.oci.errors import DigestInvalid, TagInvalid
from portside.services.content.manifests import Reference
from portside.services.errors import ManifestUnknown

__all__ = ["delete_manifest", "get_manifest", "put_manifest"]


def _acceptable(request: Request, media_type: str) -> bool:
    """Whether the client's Accept header admits the stored type (no header admits all).

    Portside never converts manifests; like the reference registry it answers 404 when a
    client that lists manifest types does not list this one (e.g. an index to an old client).
    """
    accepted = {
        part.split(";")[0].strip()
        for value in request.headers.getlist("accept")
        for part in value.split(",")
    }
    listed = accepted & mt.MANIFEST_TYPES
    return not listed or media_type in accepted or "*/*" in accepted


def _existing_reference(request: Request) -> Reference:
    """The reference of a read or a delete; one no manifest can have is ManifestUnknown.

    A tag or digest outside the grammar names nothing that could be stored, so reads and
    deletes answer 404 as for any absent manifest (as distribution does, and as the OCI
    conformance suite expects); only a push of such a reference is a client error (400).
    """
    text = request.path_params["reference"]
    try:
        return Reference.parse(text)
    except (TagInvalid, DigestInvalid):
        raise ManifestUnknown("manifest unknown to registry", {"reference": text[:140]}) from None


async def get_manifest(request: Request) -> Response:
    """Serve a manifest by tag or digest in its stored form."""
    reference = _existing_reference(request)
    # The cache serves stored manifests as they are, and repositories under its rules from
    # their upstream when they miss (services/imports/cache.py).
    record = await app_state(request).cache.get_manifest(target_of(request), reference)
    if not _acceptable(request, record.media_type):
        raise ManifestUnknown(
            f"manifest is {record.media_type}, which the Accept header does not list",
            {"mediaType": record.media_type},
        )
    headers = {
        "Docker-Content-Digest": record.digest,
        "ETag": f'"{record.digest}"',
        "Content-Length": str(record.size),
    }
    body = b"" if request.method == "HEAD" else record.body
    return Response(body, headers=headers, media_type=record.media_type)


async def put_manifest(request: Request) -> Response:
    """Store a manifest; a tag reference moves the tag."""
    target = target_of(request)
    reference = Reference.parse(request.path_params["reference"])
    await app_state(request).cache.check_push(target)
    body = await read_manifest_body(request)
    pushed = await app_state(request).manifests.put(
        target, reference, body, request.headers.get("content-type"), event_context(request)
    )
    headers = {
        "Location": f"/v2/{target.repository}/manifests/{pushed.digest}",
        "Docker-Content-Digest": str(pushed.digest),
        "Content-Length": "0",
    }
    if pushed.subject is not None:
        headers["OCI-Subject"] = str(pushed.subject)
    return Response(status_code=201, headers=headers)


async def delete_manifest(request: Request) -> Response:
    """Delete a manifest by digest, or a tag by name."""
    reference = _existing_reference(request)
    await app_state(request).manifests.delete(target_of(request), reference, event_context(request))
    return Response(status_code=202, headers={"Content-Length": "0"})
