"""`/acr/v1/_deleted/...`: ACR's recycle-bin data plane, as `az acr` speaks it.

- `GET _deleted/_catalog`: the deleted repositories (`az acr repository list-deleted`);
- `GET _deleted/<name>/_manifests`, `GET _deleted/<name>/_tags`: what the recycle bin holds of
  a repository, oldest deletion first (`az acr manifest list-deleted`, `list-deleted-tags`;
  `az acr manifest restore` takes the last entry of a tag as its most recent deletion);
- `POST _deleted/<name>/_manifests/<digest>` with `{"tag": ...}`: restore the manifest with
  that tag (`null`: the tags it had), as `az acr manifest restore` does.

The recycle bin itself is services/lifecycle/recycle.py; its management errors are answered
here as the data plane's (a missing entry is 404 `MANIFEST_UNKNOWN`, a refused restore 409).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portside.api.acr.params import acr_time, login_server, next_link
from portside.api.params import page_params
from portside.api.state import app_state, registry_of
from portside.oci.digests import Digest
from portside.oci.names import validate_name, validate_tag
from portside.services.errors import BodyInvalid, ManifestUnknown, RestoreRefused
from portside.services.management.errors import Conflict, ManagementError, NotFound

__all__ = ["deleted_catalog", "deleted_manifests", "deleted_tags", "restore_manifest"]

_MAX_BODY_BYTES = 64 * 1024


@contextmanager
def _data_plane_errors(repository: str, digest: str | None = None) -> Iterator[None]:
    """Answer the recycle bin's management errors as the data plane's."""
    try:
        yield
    except NotFound as error:
        raise ManifestUnknown(error.message, {"name": repository, "digest": digest}) from None
    except Conflict as error:
        raise RestoreRefused(error.message, {"name": repository, "digest": digest}) from None
    except ManagementError as error:
        raise BodyInvalid(error.message) from None


def _deleted_at(when: datetime, expires: datetime) -> dict[str, str]:
    return {"deletedAt": acr_time(when), "expiresAfter": acr_time(expires)}


async def deleted_catalog(request: Request) -> Response:
    """A page of the deleted repositories (with manifests in the bin), by name."""
    n, last = page_params(request)
    registry = registry_of(request).name
    with _data_plane_errors(""):
        found = await app_state(request).lifecycle.deleted_repositories(registry)
    names = [r.name for r in found if last is None or r.name > last]
    page = names if n is None else names[:n]
    headers = {}
    if n is not None and len(names) > n and page:
        headers["Link"] = next_link(request, n, page[-1])
    return JSONResponse({"repositories": page}, headers=headers)


async def deleted_manifests(request: Request) -> Response:
    """The repository's manifests in the recycle bin, oldest deletion first."""
    repository = validate_name(request.path_params["name"])
    with _data_plane_errors(repository):
        found = await app_state(request).lifecycle.deleted_manifests(
            registry_of(request).name, repository
        )
    items = [
        {
            "digest": m.digest,
            "mediaType": m.media_type,
            "imageSize": m.size,
            "tags": list(m.tags),
            "createdTime": acr_time(m.created_at),
            **_deleted_at(m.deleted_at, m.expires_at),
        }
        for m in reversed(found)
    ]
    body = {"registry": login_server(request), "imageName": repository, "manifests": items}
    return JSONResponse(body)


async def deleted_tags(request: Request) -> Response:
    """Every deleted tag of the repository with the digest it named, oldest deletion first:
    the tags deleted alone, and those of the manifests in the bin."""
    repository = validate_name(request.path_params["name"])
    lifecycle, registry = app_state(request).lifecycle, registry_of(request).name
    with _data_plane_errors(repository):
        alone = await lifecycle.deleted_tags(registry, repository)
        manifests = await lifecycle.deleted_manifests(registry, repository)
    entries = [(t.deleted_at, t.name, t.digest, t.expires_at) for t in alone]
    entries += [(m.deleted_at, t, m.digest, m.expires_at) for m in manifests for t in m.tags]
    entries.sort(key=lambda entry: entry[0])
    items = [
        {"tag": tag, "digest": digest, **_deleted_at(when, expires)}
        for when, tag, digest, expires in entries
    ]
    body = {"registry": login_server(request), "imageName": repository, "tags": items}
    return JSONResponse(body)


async def restore_manifest(request: Request) -> Response:
    """Restore a manifest from the recycle bin with the tag the body names (`null`: its own).

    A tag that names another manifest now is not moved: it is reported in `tagConflicts`.
    """
    repository = validate_name(request.path_params["name"])
    digest = str(Digest.parse(request.path_params["digest"]))
    tag = await _read_tag(request)
    with _data_plane_errors(repository, digest):
        restored = await app_state(request).lifecycle.restore(
            registry_of(request).name, repository, digest, None if tag is None else [tag]
        )
    conflicts = [
        {"tag": c.tag, "digest": c.digest, "takenBy": c.taken_by} for c in restored.conflicts
    ]
    body = {
        "registry": login_server(request),
        "imageName": repository,
        "digest": restored.digest,
        "tags": list(restored.tags),
        "restoredManifests": list(restored.manifests),
        "tagConflicts": conflicts,
    }
    return JSONResponse(body)


async def _read_tag(request: Request) -> str | None:
    """The body's `tag` (a valid tag, or null); an empty body names none."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_BODY_BYTES:
            raise BodyInvalid(f"body larger than {_MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return None
    try:
        doc: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BodyInvalid("body is not valid JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tag"), str | None):
        raise BodyInvalid('body must be {"tag": <tag or null>}')
    tag = doc.get("tag")
    return None if tag is None else validate_tag(tag)
