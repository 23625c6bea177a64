"""Access pages: a registry's tokens and scope maps, created, changed and deleted here (a
token rebound to another map, a map's actions edited, a password generated with an expiry or
deleted); a new password is shown once. All of it needs Contributor or Owner, as in the
management API."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.auth.permissions import SCOPE_MAP_ACTIONS
from portside.portal.web import (
    expiry_days,
    managed_form,
    managed_page,
    managing,
    portal_of,
    runtime_of,
)
from portside.services.management.errors import Invalid
from portside.services.management.scope_maps import repository_actions
from portside.services.management.tokens import TOKEN_PASSWORDS

__all__ = ["routes"]


async def tokens(request: Request) -> Response:
    """The registry's tokens and scope maps, with a form to create a token (Contributor)."""
    viewer, page = await managed_page(request)
    portal = portal_of(request)
    name = request.path_params["name"]
    management = runtime_of(request).management
    context = {
        "page": page,
        "tokens": await management.tokens.list(name),
        "scope_maps": await management.scope_maps.list(name),
        "actions": tuple(SCOPE_MAP_ACTIONS),
        "passwords": TOKEN_PASSWORDS,
    }
    return portal.render(request, "tokens.html", context, viewer=viewer)


async def create(request: Request) -> Response:
    """Create a token bound to a scope map; both its passwords are shown, this once."""
    viewer, _page, fields = await managing(request)
    portal = portal_of(request)
    name = request.path_params["name"]
    view = await runtime_of(request).management.tokens.create(
        name,
        fields.get("token", "").strip(),
        scope_map=fields.get("scope_map") or None,
        expiry_days=expiry_days(fields.get("expiry_days", "")),
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


async def rebind(request: Request) -> Response:
    """Bind a token to another scope map (its passwords stay; what they allow changes)."""
    name, fields = await managed_form(request)
    await runtime_of(request).management.tokens.update(
        name, fields.get("token", ""), scope_map=fields.get("scope_map", "")
    )
    return _back(request, name)


async def generate_password(request: Request) -> Response:
    """Replace one of a token's passwords, valid for the days given; shown this once."""
    viewer, _page, fields = await managing(request)
    portal = portal_of(request)
    name = request.path_params["name"]
    token = fields.get("token", "")
    secret = await runtime_of(request).management.tokens.generate_password(
        name, token, fields.get("password", ""), expiry_days(fields.get("expiry_days", ""))
    )
    context = {"name": name, "secrets": (secret,), "what": f"token {token[:64]}"}
    return portal.render(request, "secret.html", context, viewer=viewer, status=201)


async def delete_password(request: Request) -> Response:
    """Remove one of a token's passwords (logins with it stop at once)."""
    name, fields = await managed_form(request)
    await runtime_of(request).management.tokens.delete_password(
        name, fields.get("token", ""), fields.get("password", "")
    )
    return _back(request, name)


async def scope_map(request: Request) -> Response:
    """One scope map's actions, each removable, and a form to add actions on a repository."""
    viewer, page = await managed_page(request)
    portal = portal_of(request)
    name = request.path_params["name"]
    found = await runtime_of(request).management.scope_maps.show(
        name, request.query_params.get("scope_map", "")
    )
    context = {"page": page, "map": found, "actions": tuple(SCOPE_MAP_ACTIONS)}
    return portal.render(request, "scope_map.html", context, viewer=viewer)


async def edit_scope_map(request: Request) -> Response:
    """Remove the checked actions, add actions on a repository, change the description."""
    name, fields = await managed_form(request)
    removed = [value for key, value in fields.items() if key.startswith("remove-")]
    repository = fields.get("repository", "").strip()
    verbs = [a for a in SCOPE_MAP_ACTIONS if fields.get(a) == "on"]
    if verbs and not repository:
        raise Invalid("name the repository (or pattern) the checked actions are on")
    added = repository_actions(repository, verbs) if repository else []
    map_name = fields.get("scope_map", "")
    await runtime_of(request).management.scope_maps.update(
        name,
        map_name,
        add_actions=added,
        remove_actions=removed,
        description=fields.get("description"),
    )
    root = request.scope.get("root_path", "")
    query = urlencode({"scope_map": map_name})
    return RedirectResponse(f"{root}/registries/{name}/scope-maps/edit?{query}", 303)


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
        Route("/registries/{name}/tokens/scope-map", rebind, methods=["POST"]),
        Route("/registries/{name}/tokens/password", generate_password, methods=["POST"]),
        Route("/registries/{name}/tokens/password/delete", delete_password, methods=["POST"]),
        Route("/registries/{name}/scope-maps/edit", scope_map, methods=["GET"]),
        Route("/registries/{name}/scope-maps/edit", edit_scope_map, methods=["POST"]),
    ]
