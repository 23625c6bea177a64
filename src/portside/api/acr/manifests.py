"""`/acr/v1/<name>/_manifests[/<digest>]`: manifest attributes, listed (paged, ordered) or one
at a time; PATCH of a manifest's lock flags; DELETE."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from portside.api.acr.params import (
    acr_time,
    flags_json,
    item_response,
    page_of,
    page_response,
    read_flag_changes,
)
from portside.api.events import event_context
from portside.api.params import digest_param, target_of
from portside.api.state import app_state
from portside.services.content.artifacts import ManifestProperties
from portside.services.content.platforms import Platform

__all__ = ["delete_manifest", "get_manifest", "list_manifests", "update_manifest"]


def _platform_json(platform: Platform) -> dict[str, str]:
    found = {"architecture": platform.architecture, "os": platform.os}
    return {key: value for key, value in found.items() if value is not None}


def _manifest_json(found: ManifestProperties) -> dict[str, Any]:
    """ManifestAttributesBase, as the SDK deserializes it (plus ACR's media types)."""
    attributes, details = found.attributes, found.details
    body: dict[str, Any] = {
        "digest": attributes.digest,
        "imageSize": found.image_size,
        "createdTime": acr_time(attributes.created_at),
        # Manifests never change; only their flags do, so the last update is their creation.
        "lastUpdateTime": acr_time(attributes.created_at),
        "mediaType": attributes.media_type,
    }
    if details.config_media_type is not None:
        body["configMediaType"] = details.config_media_type
    body.update(_platform_json(details.platform))
    if details.references is not None:
        body["references"] = [
            {"digest": digest, **_platform_json(platform)}
            for digest, platform in details.references
        ]
    body["tags"] = list(attributes.tags)
    body["changeableAttributes"] = flags_json(attributes.flags)
    return body


def _one(request: Request, repository: str, found: ManifestProperties) -> Response:
    return item_response(request, repository, "manifest", _manifest_json(found))


async def list_manifests(request: Request) -> Response:
    """A page of list-enabled manifests (`n`, `last`, `orderby`), continued by Link."""
    target = target_of(request)
    page = page_of(request)
    found, more = await app_state(request).artifacts.manifests(
        target, page.last, page.n, page.orderby
    )
    after = found[-1].attributes.digest if more and found else None
    items = [_manifest_json(m) for m in found]
    return page_response(request, target.repository, "manifests", items, page, after)


async def get_manifest(request: Request) -> Response:
    """One manifest's attributes, by digest."""
    target = target_of(request)
    digest = digest_param(request.path_params["digest"])
    found = await app_state(request).artifacts.manifest(target, digest)
    return _one(request, target.repository, found)


async def update_manifest(request: Request) -> Response:
    """Change some of a manifest's attributes; answers the manifest after the change."""
    target = target_of(request)
    digest = digest_param(request.path_params["digest"])
    changes = await read_flag_changes(request)
    found = await app_state(request).artifacts.update_manifest(target, digest, changes)
    return _one(request, target.repository, found)


async def delete_manifest(request: Request) -> Response:
    """Delete a manifest and its tags."""
    target = target_of(request)
    digest = digest_param(request.path_params["digest"])
    await app_state(request).artifacts.delete_manifest(target, digest, event_context(request))
    return Response(status_code=202, headers={"Content-Length": "0"})
