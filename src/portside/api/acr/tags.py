"""`/acr/v1/<name>/_tags[/<tag>]`: tag attributes, listed (paged, ordered, filtered by digest)
or one at a time; PATCH of a tag's lock flags; DELETE."""

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
from portside.api.params import target_of
from portside.api.state import app_state
from portside.metadata.records import TagAttributes
from portside.oci.digests import Digest
from portside.oci.names import validate_tag

__all__ = ["delete_tag", "get_tag", "list_tags", "update_tag"]


def _tag_json(tag: TagAttributes) -> dict[str, Any]:
    """TagAttributesBase, as the SDK deserializes it (plus ACR's `signed`)."""
    return {
        "name": tag.name,
        "digest": tag.digest,
        "createdTime": acr_time(tag.created_at),
        "lastUpdateTime": acr_time(tag.updated_at),
        "signed": False,
        "changeableAttributes": flags_json(tag.flags),
    }


def _one(request: Request, repository: str, tag: TagAttributes) -> Response:
    return item_response(request, repository, "tag", _tag_json(tag))


async def list_tags(request: Request) -> Response:
    """A page of list-enabled tags (`n`, `last`, `orderby`, `digest`), continued by Link."""
    target = target_of(request)
    page = page_of(request)
    raw_digest = request.query_params.get("digest") or None
    digest = None if raw_digest is None else Digest.parse(raw_digest)
    found, more = await app_state(request).artifacts.tags(
        target, page.last, page.n, page.orderby, digest
    )
    after = found[-1].name if more and found else None
    items = [_tag_json(tag) for tag in found]
    return page_response(request, target.repository, "tags", items, page, after, digest=raw_digest)


async def get_tag(request: Request) -> Response:
    """One tag's attributes."""
    target = target_of(request)
    tag = validate_tag(request.path_params["reference"])
    found = await app_state(request).artifacts.tag(target, tag)
    return _one(request, target.repository, found)


async def update_tag(request: Request) -> Response:
    """Change some of a tag's attributes; answers the tag after the change."""
    target = target_of(request)
    tag = validate_tag(request.path_params["reference"])
    changes = await read_flag_changes(request)
    found = await app_state(request).artifacts.update_tag(target, tag, changes)
    return _one(request, target.repository, found)


async def delete_tag(request: Request) -> Response:
    """Delete a tag (its manifest stays)."""
    target = target_of(request)
    tag = validate_tag(request.path_params["reference"])
    await app_state(request).artifacts.delete_tag(target, tag, event_context(request))
    return Response(status_code=202, headers={"Content-Length": "0"})
