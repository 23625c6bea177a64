"""Content pages: the repository tree with search, a repository's tags, a manifest's layers,
config, platforms and referrers; locking, unlocking and deleting tags and manifests.

Repositories, tags and manifests are named in query parameters and form fields, not in the
path: multi-level repository names then need no escaping rules of their own. Every page is
checked against what the viewer's identity may do through the /acr/v1 API (portal/access.py).
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.auth.permissions import DELETE, METADATA_READ, METADATA_WRITE
from portside.oci.digests import Digest
from portside.oci.names import validate_name
from portside.portal.images import image_config, layers_of, tree_of
from portside.portal.web import checked_form, host_of, portal_of, runtime_of
from portside.services.content.artifacts import ManifestProperties
from portside.services.content.targets import Target
from portside.services.management.errors import Invalid

__all__ = ["PAGE_SIZE", "routes"]

PAGE_SIZE = 100
"""Repositories or tags on one page."""

_ORDERS = {"newest": "timedesc", "oldest": "timeasc", "name": "none"}


async def repositories(request: Request) -> Response:
    """A page of the registry's repositories as a tree, filtered by a search and a folder."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    name = request.path_params["name"]
    page = await portal.access.page(viewer, name, host_of(request))
    query = request.query_params
    search = query.get("q", "")[:256]
    prefix = query.get("prefix", "")[:256]
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    after = query.get("after") or None
    if prefix and (after is None or after < prefix):
        # Names are listed in order: start just before the folder's first name.
        after = prefix[:-1] + "."
    unfiltered = viewer.is_admin and not search and not prefix

    def visible(repository: str) -> bool:
        return page.sees(repository) and search in repository and repository.startswith(prefix)

    names, more = await runtime_of(request).listings.repositories(
        page.view.record.id,
        after,
        PAGE_SIZE,
        None if unfiltered else visible,
        registry_uid=page.view.record.uid,
    )
    context = {
        "page": page,
        "tree": tree_of(names, prefix),
        "names": names,
        "search": search,
        "prefix": prefix,
        "next": _link(request, q=search, prefix=prefix, after=names[-1]) if more else "",
    }
    return portal.render(request, "repositories.html", context, viewer=viewer)


async def tags(request: Request) -> Response:
    """A page of a repository's tags with digest, size, platforms and locks."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    name = request.path_params["name"]
    page = await portal.access.page(viewer, name, host_of(request))
    repository = validate_name(request.query_params.get("repository", ""))
    page.require(repository, METADATA_READ)
    order = request.query_params.get("order", "newest")
    target = Target(page.view.record.id, repository)
    artifacts = runtime_of(request).artifacts
    found, more = await artifacts.tags(
        target,
        request.query_params.get("after") or None,
        PAGE_SIZE,
        _ORDERS.get(order, "timedesc"),
        None,
    )
    manifests: dict[str, ManifestProperties] = {}
    for tag in found:
        if tag.digest not in manifests:
            manifests[tag.digest] = await artifacts.manifest(target, Digest.parse(tag.digest))
    context = {
        "page": page,
        "repository": repository,
        "tags": found,
        "manifests": manifests,
        "order": order,
        "writable": page.allows(repository, METADATA_WRITE),
        "deletable": page.allows(repository, DELETE),
        "next": _link(request, repository=repository, order=order, after=found[-1].name)
        if more
        else "",
    }
    return portal.render(request, "tags.html", context, viewer=viewer)


async def manifest(request: Request) -> Response:
    """A manifest's layers and sizes, config, platforms (of an index) and referrers."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    name = request.path_params["name"]
    page = await portal.access.page(viewer, name, host_of(request))
    repository = validate_name(request.query_params.get("repository", ""))
    page.require(repository, METADATA_READ)
    digest = Digest.parse(request.query_params.get("digest", ""))
    target = Target(page.view.record.id, repository)
    runtime = runtime_of(request)
    properties = await runtime.artifacts.manifest(target, digest)
    config, layers = layers_of(properties.attributes.body)
    context = {
        "page": page,
        "repository": repository,
        "manifest": properties,
        "layers": layers,
        "config": config,
        "image": await image_config(runtime.driver, config),
        "referrers": await runtime.manifests.referrers(target, digest, None),
        "writable": page.allows(repository, METADATA_WRITE),
        "deletable": page.allows(repository, DELETE),
    }
    return portal.render(request, "manifest.html", context, viewer=viewer)


async def lock(request: Request) -> Response:
    """Lock a tag or manifest against writes and deletion, or unlock it."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    page = await portal.access.page(viewer, request.path_params["name"], host_of(request))
    repository = validate_name(fields.get("repository", ""))
    page.require(repository, METADATA_WRITE)
    target = Target(page.view.record.id, repository)
    enabled = fields.get("locked") != "true"
    changes = {"write_enabled": enabled, "delete_enabled": enabled}
    artifacts = runtime_of(request).artifacts
    if fields.get("tag"):
        await artifacts.update_tag(target, fields["tag"][:128], changes)
    else:
        await artifacts.update_manifest(target, Digest.parse(fields.get("digest", "")), changes)
    return RedirectResponse(_back(request, fields), 303)


async def delete(request: Request) -> Response:
    """Delete a tag (its manifest stays) or a manifest with its tags."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    page = await portal.access.page(viewer, request.path_params["name"], host_of(request))
    repository = validate_name(fields.get("repository", ""))
    page.require(repository, DELETE)
    target = Target(page.view.record.id, repository)
    artifacts = runtime_of(request).artifacts
    if fields.get("tag"):
        await artifacts.delete_tag(target, fields["tag"][:128])
    else:
        await artifacts.delete_manifest(target, Digest.parse(fields.get("digest", "")))
    root = request.scope.get("root_path", "")
    query = urlencode({"repository": repository})
    return RedirectResponse(f"{root}/registries/{page.name}/tags?{query}", 303)


async def delete_repository(request: Request) -> Response:
    """Delete a repository with everything in it, once its name was typed again."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    page = await portal.access.page(viewer, request.path_params["name"], host_of(request))
    repository = validate_name(fields.get("repository", ""))
    page.require(repository, DELETE)
    if fields.get("confirm", "") != repository:
        raise Invalid(f"type the repository's name ({repository}) to confirm its deletion")
    await runtime_of(request).artifacts.delete_repository(Target(page.view.record.id, repository))
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/registries/{page.name}/repositories", 303)


def _link(request: Request, **params: str) -> str:
    return f"{request.url.path}?{urlencode(params)}"


def _back(request: Request, fields: dict[str, str]) -> str:
    """The page a form came from (a page of this registry), else the repository's tags."""
    root = str(request.scope.get("root_path", ""))
    name = request.path_params["name"]
    back = fields.get("back", "")
    if back.startswith(f"{root}/registries/{name}/") and not back.startswith("//"):
        return back
    return f"{root}/registries/{name}/tags?{urlencode({'repository': fields['repository']})}"


def routes() -> list[Route]:
    """The content routes."""
    return [
        Route("/registries/{name}/repositories", repositories, methods=["GET"]),
        Route("/registries/{name}/tags", tags, methods=["GET"]),
        Route("/registries/{name}/manifest", manifest, methods=["GET"]),
        Route("/registries/{name}/lock", lock, methods=["POST"]),
        Route("/registries/{name}/delete-content", delete, methods=["POST"]),
        Route("/registries/{name}/delete-repository", delete_repository, methods=["POST"]),
    ]
