"""Access pages: a registry's tokens and scope maps, created and deleted here; a new token's
passwords are shown once. All of it needs Contributor or Owner, as in the management API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.auth.permissions import SCOPE_MAP_ACTIONS
from portside.portal.web import checked_form, host_of, managed_form, portal_of, runtime_of
from portside.services.management.scope_maps import repository_actions

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
        "actions": tuple(SCOPE_MAP_ACTIONS),
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


async def delete_token(request: Request) -> Response:
    """Delete a token and its passwords (logins with them stop at once)."""
    name, fields = await managed_form(request)
    await runtime_of(request).management.tokens.delete(name, fields.get("token", ""))
    return _back(request, name)


async def set_token_status(request: Request) -> Response:
    """Enable or disable a token (a disabled one cannot sign in; its passwords stay)."""
    name, fields = await managed_form(request)
    status = "enabled" if fields.get("enabled") == "true" else "disabled"
    await runtime_of(request).management.tokens.update(name, fields.get("token", ""), status=status)
    return _back(request, name)


async def create_scope_map(request: Request) -> Response:
    """Create a scope map giving the checked actions on one repository (or pattern)."""
    name, fields = await managed_form(request)
    actions = [a for a in SCOPE_MAP_ACTIONS if fields.get(a) == "on"]
    await runtime_of(request).management.scope_maps.create(
        name,
        fields.get("scope_map", "").strip(),
        repository_actions(fields.get("repository", "").strip(), actions),
        fields.get("description", ""),
    )
    return _back(request, name)


async def delete_scope_map(request: Request) -> Response:
    """Delete a scope map no token uses (system maps stay)."""
    name, fields = await managed_form(request)
    await runtime_of(request).management.scope_maps.delete(name, fields.get("scope_map", ""))
    return _back(request, name)


def _back(request: Request, name: str) -> Response:
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/registries/{name}/tokens", 303)


def routes() -> list[Route]:
    """The access routes."""
    return [
        Route("/registries/{name}/tokens", tokens, methods=["GET"]),
        Route("/registries/{name}/tokens", create, methods=["POST"]),
        Route("/registries/{name}/tokens/delete", delete_token, methods=["POST"]),
        Route("/registries/{name}/tokens/status", set_token_status, methods=["POST"]),
        Route("/registries/{name}/scope-maps", create_scope_map, methods=["POST"]),
        Route("/registries/{name}/scope-maps/delete", delete_scope_map, methods=["POST"]),
    ]
