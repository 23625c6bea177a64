"""The route table of ACR's data-plane metadata API, `/acr/v1/...`, with each access rule.

Names may contain slashes, so the `_tags` and `_manifests` routes come before the bare
repository route, whose `{name:path}` would otherwise swallow them (no repository name has a
component starting with `_`, so the suffixes are unambiguous).
"""

from __future__ import annotations

from starlette.routing import Route

from portside.api.access import CATALOG, DELETE, METADATA_READ, METADATA_WRITE, guarded
from portside.api.acr import manifests as acr_manifests
from portside.api.acr import repositories as acr_repositories
from portside.api.acr import tags as acr_tags
from portside.api.v2 import listings

__all__ = ["acr_routes"]

_NAME = "/acr/v1/{name:path}"


def acr_routes() -> list[Route]:
    """All /acr/v1/ routes."""
    table = [
        ("/acr/v1/_catalog", ["GET"], listings.catalog, CATALOG),
        (f"{_NAME}/_tags", ["GET"], acr_tags.list_tags, METADATA_READ),
        (f"{_NAME}/_tags/{{reference}}", ["GET"], acr_tags.get_tag, METADATA_READ),
        (f"{_NAME}/_tags/{{reference}}", ["PATCH"], acr_tags.update_tag, METADATA_WRITE),
        (f"{_NAME}/_tags/{{reference}}", ["DELETE"], acr_tags.delete_tag, DELETE),
        (f"{_NAME}/_manifests", ["GET"], acr_manifests.list_manifests, METADATA_READ),
        (f"{_NAME}/_manifests/{{digest}}", ["GET"], acr_manifests.get_manifest, METADATA_READ),
        (
            f"{_NAME}/_manifests/{{digest}}",
            ["PATCH"],
            acr_manifests.update_manifest,
            METADATA_WRITE,
        ),
        (f"{_NAME}/_manifests/{{digest}}", ["DELETE"], acr_manifests.delete_manifest, DELETE),
        (_NAME, ["GET"], acr_repositories.get_repository, METADATA_READ),
        (_NAME, ["PATCH"], acr_repositories.update_repository, METADATA_WRITE),
        (_NAME, ["DELETE"], acr_repositories.delete_repository, DELETE),
    ]
    return [
        Route(path, guarded(endpoint, rule), methods=methods)
        for path, methods, endpoint, rule in table
    ]
