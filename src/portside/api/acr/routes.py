"""The route table of ACR's data-plane metadata API, `/acr/v1/...`, with each access rule.

Names may contain slashes, so the `_tags` and `_manifests` routes come before the bare
repository route, whose `{name:path}` would otherwise swallow them (no repository name has a
component starting with `_`, so the suffixes are unambiguous). For the same reason the recycle
bin's `_deleted/...` routes come before all of them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from portside.api.access import CATALOG, DELETE, METADATA_READ, METADATA_WRITE, guarded
from portside.api.acr import deleted as acr_deleted
from portside.api.acr import manifests as acr_manifests
from portside.api.acr import repositories as acr_repositories
from portside.api.acr import tags as acr_tags
from portside.api.v2 import listings
from portside.auth.permissions import DELETED_CATALOG, DELETED_READ, DELETED_RESTORE
from portside.auth.scopes import Scope

__all__ = ["acr_routes"]

_NAME = "/acr/v1/{name:path}"
_DELETED = "/acr/v1/_deleted/{name:path}"


def _deleted_catalog(request: Request) -> tuple[Scope, ...]:
    """The recycle bin's catalog scope, as `az acr repository list-deleted` asks for it."""
    return (Scope("registry", DELETED_CATALOG, frozenset({"*"})),)


def _deleted_read(request: Request) -> tuple[Scope, ...]:
    return (Scope.repository(request.path_params["name"], DELETED_READ),)


def _deleted_restore(request: Request) -> tuple[Scope, ...]:
    return (Scope.repository(request.path_params["name"], DELETED_RESTORE),)


def acr_routes() -> list[Route]:
    """All /acr/v1/ routes."""
    table = [
        ("/acr/v1/_catalog", ["GET"], listings.catalog, CATALOG),
        ("/acr/v1/_deleted/_catalog", ["GET"], acr_deleted.deleted_catalog, _deleted_catalog),
        (f"{_DELETED}/_manifests", ["GET"], acr_deleted.deleted_manifests, _deleted_read),
        (f"{_DELETED}/_tags", ["GET"], acr_deleted.deleted_tags, _deleted_read),
        (
            f"{_DELETED}/_manifests/{{digest}}",
            ["POST"],
            acr_deleted.restore_manifest,
            _deleted_restore,
        ),
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
