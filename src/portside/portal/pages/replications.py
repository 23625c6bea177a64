"""Replications: the locations a registry is replicated to, each with its status and backlog;
add one (of the locations the deployment knows), take one out of routing or back in, stop
one; and an image's status per location (complete, or bytes still pending). Contributor or
Owner, as the management API's replication routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.portal.access import RegistryPage
from portside.portal.signin import Viewer
from portside.portal.web import managed_page, managing, portal_of, runtime_of
from portside.services.management.errors import Invalid, NotFound

__all__ = ["routes"]

# Longest image reference the status form takes (as the management API's `image`).
_MAX_IMAGE = 600


async def _render(
    request: Request,
    viewer: Viewer,
    page: RegistryPage,
    *,
    image: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    runtime = runtime_of(request)
    service = runtime.replication
    replicas = await service.list(page.name)
    backlog = {one.location: one for one in (await service.status(page.name)).locations}
    settings = runtime.settings
    known = sorted({*settings.locations, *([settings.location] if settings.location else [])})
    taken = {one.location for one in replicas}
    context = {
        "page": page,
        "replicas": replicas,
        "backlog": backlog,
        "available": [location for location in known if location not in taken],
        "image": image,
        "image_status": None,
        "error": error,
    }
    if image and not error:
        context["image_status"] = await service.status(page.name, image)
    portal = portal_of(request)
    return portal.render(request, "replications.html", context, viewer=viewer, status=status)


async def replications(request: Request) -> Response:
    """The registry's replications; with `?image=`, that image's status per location."""
    viewer, page = await managed_page(request)
    image = request.query_params.get("image", "").strip()
    if len(image) > _MAX_IMAGE:
        return await _render(
            request, viewer, page, error="the image reference is too long", status=400
        )
    try:
        return await _render(request, viewer, page, image=image)
    except (Invalid, NotFound) as error:
        # A bad or unknown image is the form's error, not a missing page.
        return await _render(request, viewer, page, error=error.message, status=_status(error))


def _status(error: Exception) -> int:
    return 404 if isinstance(error, NotFound) else 400


def _form(
    change: Callable[[Request, str, dict[str, str]], Awaitable[object]],
) -> Callable[[Request], Awaitable[Response]]:
    """A POST route doing `change`; bad input gets the page back with its message (400)."""

    async def route(request: Request) -> Response:
        viewer, page, fields = await managing(request)
        try:
            await change(request, page.name, fields)
        except Invalid as error:
            return await _render(request, viewer, page, error=error.message, status=400)
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}/registries/{page.name}/replications", 303)

    route.__doc__ = change.__doc__
    return route


async def _create(request: Request, name: str, fields: dict[str, str]) -> object:
    """Replicate the registry to a location the deployment knows."""
    enabled = fields.get("region_endpoint_enabled") == "on"
    service = runtime_of(request).replication
    return await service.create(name, fields.get("location", "").strip(), enabled)


async def _update(request: Request, name: str, fields: dict[str, str]) -> object:
    """Take a location out of routing, or back in."""
    enabled = fields.get("region_endpoint_enabled") == "true"
    service = runtime_of(request).replication
    return await service.update(name, fields.get("location", ""), enabled)


async def _delete(request: Request, name: str, fields: dict[str, str]) -> object:
    """Stop replicating to a location."""
    await runtime_of(request).replication.delete(name, fields.get("location", ""))
    return None


def routes() -> list[Route]:
    """The replication routes."""
    base = "/registries/{name}/replications"
    return [
        Route(base, replications, methods=["GET"]),
        Route(base, _form(_create), methods=["POST"]),
        Route(f"{base}/update", _form(_update), methods=["POST"]),
        Route(f"{base}/delete", _form(_delete), methods=["POST"]),
    ]
