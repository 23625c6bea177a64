"""Trusted issuers page: list, add and remove the OIDC issuers the deployment trusts (for
`/oauth2/exchange` and, with a portal client, for directory sign-in), and set or clear an
issuer's portal client. The deployment administrator only, as in the management API."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.portal.signin import Viewer
from portside.portal.web import checked_form, portal_of, runtime_of
from portside.services.management.errors import Conflict, Invalid
from portside.services.management.issuers import IssuerChanges

__all__ = ["routes"]


async def issuers(request: Request) -> Response:
    """Every trusted issuer (the configuration file's read-only), and a form to add one."""
    viewer = await _administrator(request)
    return await _page(request, viewer, {}, "", 200)


async def create(request: Request) -> Response:
    """Trust a new issuer; bad input gets the form back with the reason (400, or 409)."""
    viewer = await _administrator(request)
    fields = await checked_form(request, viewer)
    try:
        await runtime_of(request).management.issuers.create(
            fields.get("name", "").strip(),
            fields.get("issuer", "").strip(),
            fields.get("audience", "").strip(),
            jwks_url=fields.get("jwks_url", "").strip() or None,
            jwks=_document(fields.get("jwks", "")),
            groups_claim=fields.get("groups_claim", "").strip() or "groups",
            tenant=fields.get("tenant", "").strip() or None,
            portal_client_id=fields.get("portal_client_id", "").strip() or None,
            portal_client_secret=fields.get("portal_client_secret", "") or None,
        )
    except (Invalid, Conflict) as error:
        status = 409 if isinstance(error, Conflict) else 400
        return await _page(request, viewer, fields, error.message, status)
    return _back(request)


async def set_portal(request: Request) -> Response:
    """Set (or, with an empty client id, clear) an issuer's portal sign-in client."""
    viewer = await _administrator(request)
    fields = await checked_form(request, viewer)
    client_id = fields.get("portal_client_id", "").strip() or None
    secret = fields.get("portal_client_secret", "") or None
    given = {"portal_client_id"} | ({"portal_client_secret"} if secret or not client_id else set())
    changes = IssuerChanges(
        fields=frozenset(given), portal_client_id=client_id, portal_client_secret=secret
    )
    try:
        await runtime_of(request).management.issuers.update(request.path_params["name"], changes)
    except Invalid as error:
        return await _page(request, viewer, {}, error.message, 400)
    return _back(request)


async def delete(request: Request) -> Response:
    """Stop trusting an issuer: its sessions (and its portal sessions) end everywhere."""
    viewer = await _administrator(request)
    await checked_form(request, viewer)
    await runtime_of(request).management.issuers.delete(request.path_params["name"])
    return _back(request)


async def _administrator(request: Request) -> Viewer:
    viewer = await portal_of(request).viewer(request)
    portal_of(request).access.require_admin(viewer)
    return viewer


def _document(text: str) -> dict[str, object] | None:
    """The JWKS document typed in the form; Invalid if it is not a JSON object."""
    if not text.strip():
        return None
    try:
        document = json.loads(text)
    except ValueError:
        raise Invalid('jwks must be a JWK set in JSON: {"keys": [...]}') from None
    if not isinstance(document, dict):
        raise Invalid('jwks must be a JWK set in JSON: {"keys": [...]}')
    return document


async def _page(
    request: Request, viewer: Viewer, form: dict[str, str], error: str, status: int
) -> Response:
    listed = await runtime_of(request).management.issuers.list()
    # A secret typed in a refused form is not sent back to the browser.
    shown = {key: value for key, value in form.items() if key != "portal_client_secret"}
    context = {"issuers": listed, "form": shown, "error": error}
    return portal_of(request).render(request, "issuers.html", context, viewer=viewer, status=status)


def _back(request: Request) -> Response:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/issuers", 303)


def routes() -> list[Route]:
    """The trusted-issuer routes."""
    return [
        Route("/issuers", issuers, methods=["GET"]),
        Route("/issuers", create, methods=["POST"]),
        Route("/issuers/{name}/portal", set_portal, methods=["POST"]),
        Route("/issuers/{name}/delete", delete, methods=["POST"]),
    ]
