"""`/acr/v1/<name>`: a repository's attributes (GET), its lock flags (PATCH), DELETE."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portside.api.acr.params import acr_time, flags_json, login_server, read_flag_changes
from portside.api.events import event_context
from portside.api.params import target_of
from portside.api.state import app_state
from portside.metadata.records import RepositoryAttributes

__all__ = ["delete_repository", "get_repository", "update_repository"]


def _repository_json(request: Request, found: RepositoryAttributes) -> dict[str, Any]:
    """ContainerRepositoryProperties, as the SDK deserializes it, plus Portside's
    `storageBytes` (bytes of the blobs the repository links; the SDK ignores the field)."""
    return {
        "registry": login_server(request),
        "imageName": found.name,
        "createdTime": acr_time(found.created_at),
        "lastUpdateTime": acr_time(found.updated_at),
        "manifestCount": found.manifest_count,
        "tagCount": found.tag_count,
        "changeableAttributes": flags_json(found.flags),
        "storageBytes": found.storage_bytes,
    }


async def get_repository(request: Request) -> Response:
    """The repository's times, counts and changeable attributes."""
    found = await app_state(request).artifacts.repository(target_of(request))
    return JSONResponse(_repository_json(request, found))


async def update_repository(request: Request) -> Response:
    """Change some of the repository's attributes; answers its properties after the change."""
    target = target_of(request)
    changes = await read_flag_changes(request)
    found = await app_state(request).artifacts.update_repository(target, changes)
    return JSONResponse(_repository_json(request, found))


async def delete_repository(request: Request) -> Response:
    """Delete the repository with all its manifests and tags (202, what was deleted)."""
    deleted = await app_state(request).artifacts.delete_repository(
        target_of(request), event_context(request)
    )
    body = {"manifestsDeleted": list(deleted.manifests), "tagsDeleted": list(deleted.tags)}
    return JSONResponse(body, status_code=202)
