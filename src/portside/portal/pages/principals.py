"""Service principals, deployment-wide: list, create (its first secret shown once), add or
reset a secret (shown once), delete. All of it is the deployment administrator's, as the
management API's `/service-principals` routes are (`AdminCaller`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.portal.signin import Viewer
from portside.portal.web import Portal, checked_form, expiry_days, portal_of, runtime_of
from portside.services.management.context import SecretInfo

__all__ = ["routes"]


async def principals(request: Request) -> Response:
    """Every service principal with its secrets (names and times) and its role assignments."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    portal.access.require_admin(viewer)
    service = runtime_of(request).management.principals
    found = await service.list()
    assignments = await service.assignments()
    held = {
        view.record.id: [a for a in assignments if a.record.principal == view.record.id]
        for view in found
    }
    context = {"principals": found, "held": held}
    return portal.render(request, "principals.html", context, viewer=viewer)


async def create(request: Request) -> Response:
    """Create a service principal; its id and first secret are shown, this once."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    portal.access.require_admin(viewer)
    view = await runtime_of(request).management.principals.create(
        fields.get("principal", "").strip(), expiry_days(fields.get("expiry_days", ""))
    )
    return _secret_page(request, portal, viewer, view.record.id, view.record.name, view.secrets)


async def add_secret(request: Request) -> Response:
    """Add a secret (with `reset`, replacing the others: their sessions and logins end)."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    portal.access.require_admin(viewer)
    service = runtime_of(request).management.principals
    principal_id = fields.get("principal", "")
    view = await service.show(principal_id)
    secret = await service.add_secret(
        view.record.id,
        expiry_days(fields.get("expiry_days", "")),
        reset=fields.get("reset") == "on",
    )
    return _secret_page(request, portal, viewer, view.record.id, view.record.name, (secret,))


async def delete(request: Request) -> Response:
    """Delete a service principal with its secrets and its roles in every registry."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    portal.access.require_admin(viewer)
    await runtime_of(request).management.principals.delete(fields.get("principal", ""))
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/principals", 303)


def _secret_page(
    request: Request,
    portal: Portal,
    viewer: Viewer,
    principal_id: str,
    name: str,
    secrets: tuple[SecretInfo, ...],
) -> Response:
    context = {"principal_id": principal_id, "name": name, "secrets": secrets}
    return portal.render(request, "principal_secret.html", context, viewer=viewer, status=201)


def routes() -> list[Route]:
    """The service-principal routes."""
    return [
        Route("/principals", principals, methods=["GET"]),
        Route("/principals", create, methods=["POST"]),
        Route("/principals/secrets", add_secret, methods=["POST"]),
        Route("/principals/delete", delete, methods=["POST"]),
    ]
