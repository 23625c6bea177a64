"""`/v2/<name>/referrers/<digest>`: the manifests whose subject is that digest."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portside.api.params import digest_param, target_of
from portside.api.state import app_state
from portside.oci.media_types import OCI_INDEX

__all__ = ["list_referrers"]


async def list_referrers(request: Request) -> Response:
    """An OCI image index of referrer descriptors, filtered by `artifactType` if asked."""
    subject = digest_param(request.path_params["digest"])
    artifact_type = request.query_params.get("artifactType") or None
    found = await app_state(request).manifests.referrers(target_of(request), subject, artifact_type)
    manifests: list[dict[str, Any]] = []
    for ref in found:
        descriptor: dict[str, Any] = {
            "mediaType": ref.media_type,
            "digest": ref.digest,
            "size": ref.size,
        }
        if ref.artifact_type:
            descriptor["artifactType"] = ref.artifact_type
        if ref.annotations:
            descriptor["annotations"] = ref.annotations
        manifests.append(descriptor)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    return JSONResponse(body, headers=headers, media_type=OCI_INDEX)
