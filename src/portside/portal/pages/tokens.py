"""Access pages: a registry's tokens and scope maps; a new token's passwords shown once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portside.portal.web import checked_form, host_of, portal_of, runtime_of

__all__ = ["routes"]


async def tokens(request: Request) -> Response:
    """The registry's tokens and scope maps, with a form to create a token (Contributor)."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    name = request.path_params["name"]
    page = await portal.access.page(viewer, name, host_of(request))
    page.require_manage()
    management = runtime_of(request).management
    context = {
        "page": page,
        "tokens": await management.tokens.list(name),
        "scope_maps": await management.scope_maps.list(name),
    }
    return portal.render(request, "tokens.html", context, viewer=viewer)


async def create(request: Request) -> Response:
    """Create a token bound to a scope map; both its passwords are shown, this once."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    name = request.path_params["name"]
    page = await portal.access.page(viewer, name, host_of(request))
    page.require_manage()
    view = await runtime_of(request).management.tokens.create(
        name,
        fields.get("token", "").strip(),
        scope_map=fields.get("scope_map") or None,
    )
    context = {"name": name, "secrets": view.passwords, "what": f"token {view.record.name}"}
    return portal.render(request, "secret.html", context, viewer=viewer, status=201)


def routes() -> list[Route]:
    """The access routes."""
    return [
        Route("/registries/{name}/tokens", tokens, methods=["GET"]),
        Route("/registries/{name}/tokens", create, methods=["POST"]),
    ]
