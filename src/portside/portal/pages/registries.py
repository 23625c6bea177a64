"""Registry pages: the list, creation, the overview (login server, usage, push commands),
settings, the admin password and deletion with a typed confirmation."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.metadata.portal_sessions import tag_count
from portside.portal.web import checked_form, host_of, managing, portal_of, runtime_of
from portside.services.management.errors import Invalid
from portside.services.management.registries import ADMIN_PASSWORDS, SKUS

__all__ = ["routes"]


async def registries(request: Request) -> Response:
    """Every registry the viewer may see, and (for the administrator) a creation form."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    pages = await portal.access.pages(viewer, host_of(request))
    context = {"pages": pages, "skus": SKUS, "created": None, "error": ""}
    return portal.render(request, "registries.html", context, viewer=viewer)


async def create(request: Request) -> Response:
    """Create a registry (administrator only); its admin passwords are shown once."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    portal.access.require_admin(viewer)
    management = runtime_of(request).management
    view = await management.registries.create(
        fields.get("name", "").strip(),
        sku=fields.get("sku", "Standard"),
        admin_enabled=fields.get("admin_enabled") == "on",
        host=host_of(request),
    )
    if view.passwords:
        context = {"name": view.record.name, "secrets": view.passwords, "what": "admin user"}
        return portal.render(request, "secret.html", context, viewer=viewer, status=201)
    return RedirectResponse(_overview(request, view.record.name), 303)


async def overview(request: Request) -> Response:
    """A registry's login server, usage against quotas, counts and push commands."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    name = request.path_params["name"]
    page = await portal.access.page(viewer, name, host_of(request))
    runtime = runtime_of(request)
    usage = await runtime.management.registries.usage(name) if page.manage else None
    counts = None
    if page.manage or viewer.kind == "admin":
        counts = {
            "repositories": await runtime.stores.usage.count(page.view.record.id, "repositories"),
            "tags": await tag_count(runtime.database, page.view.record.id),
        }
    context = {
        "page": page,
        "usage": usage,
        "counts": counts,
        "skus": SKUS,
        "passwords": ADMIN_PASSWORDS,
    }
    return portal.render(request, "overview.html", context, viewer=viewer)


async def settings(request: Request) -> Response:
    """Change the SKU and switch the admin user on or off (Contributor or Owner)."""
    viewer, _page, fields = await managing(request)
    portal = portal_of(request)
    name = request.path_params["name"]
    assert viewer.caller is not None
    view = await runtime_of(request).management.registries.update(
        name,
        caller=viewer.caller,
        sku=fields.get("sku") or None,
        admin_enabled=fields.get("admin_enabled") == "on",
        host=host_of(request),
    )
    if view.passwords:
        context = {"name": name, "secrets": view.passwords, "what": "admin user"}
        return portal.render(request, "secret.html", context, viewer=viewer)
    return RedirectResponse(_overview(request, name), 303)


async def admin_password(request: Request) -> Response:
    """Generate a new admin password (Contributor or Owner); its value is shown once."""
    viewer, _page, fields = await managing(request)
    portal = portal_of(request)
    name = request.path_params["name"]
    management = runtime_of(request).management
    secret = await management.registries.renew_password(name, fields.get("password", ""))
    context = {"name": name, "secrets": (secret,), "what": "admin user"}
    return portal.render(request, "secret.html", context, viewer=viewer)


async def delete(request: Request) -> Response:
    """Delete a registry and everything in it (administrator only), once its name was typed."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    name = request.path_params["name"]
    portal.access.require_admin(viewer)
    if fields.get("confirm", "") != name:
        raise Invalid(f"type the registry's name ({name[:64]}) to confirm its deletion")
    await runtime_of(request).management.registries.delete(name)
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/registries", 303)


def _overview(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}/registries/{name}"


def routes() -> list[Route]:
    """The registry routes."""
    return [
        Route("/registries", registries, methods=["GET"]),
        Route("/registries", create, methods=["POST"]),
        Route("/registries/{name}", overview, methods=["GET"]),
        Route("/registries/{name}/settings", settings, methods=["POST"]),
        Route("/registries/{name}/admin-password", admin_password, methods=["POST"]),
        Route("/registries/{name}/delete", delete, methods=["POST"]),
    ]
