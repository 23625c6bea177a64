"""Webhook settings: edit a webhook's URI, actions, scope and custom headers (values never
shown again, only their names), enable or disable it, ping it, delete it. Contributor or
Owner, as the management API's webhook routes."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.portal.access import RegistryPage
from portside.portal.signin import Viewer
from portside.portal.web import managed_page, managing, portal_of, runtime_of
from portside.services.events.webhooks import ACTIONS, MAX_HEADERS, WebhookSpec
from portside.services.management.errors import Invalid

__all__ = ["parse_headers", "routes"]


def parse_headers(text: str) -> dict[str, str]:
    """Custom headers from a text area, one `Name: value` a line; Invalid if malformed (the
    service checks names, values and reserved headers)."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise Invalid(f"header line {number} is not `Name: value`")
        headers[name.strip()] = value.strip()
        if len(headers) > MAX_HEADERS:
            raise Invalid(f"a webhook has at most {MAX_HEADERS} custom headers")
    return headers


async def _render(
    request: Request,
    viewer: Viewer,
    page: RegistryPage,
    webhook: str,
    *,
    error: str = "",
    status: int = 200,
) -> Response:
    hook = await runtime_of(request).webhooks.show(page.name, webhook)
    context = {"page": page, "hook": hook, "actions": ACTIONS, "error": error}
    return portal_of(request).render(
        request, "webhook_edit.html", context, viewer=viewer, status=status
    )


async def edit(request: Request) -> Response:
    """The edit form of `?webhook=` (header values masked)."""
    viewer, page = await managed_page(request)
    return await _render(request, viewer, page, request.query_params.get("webhook", ""))


async def update(request: Request) -> Response:
    """Change URI, actions and scope; headers only when asked to (a blank value keeps them)."""
    viewer, page, fields = await managing(request)
    webhook = fields.get("webhook", "")
    try:
        await runtime_of(request).webhooks.update(page.name, webhook, _spec(fields))
    except Invalid as error:
        return await _render(request, viewer, page, webhook, error=error.message, status=400)
    return _back(request, page.name)


def _spec(fields: Mapping[str, str]) -> WebhookSpec:
    headers = None
    if fields.get("replace_headers") == "on":
        headers = parse_headers(fields.get("headers", ""))
    return WebhookSpec(
        uri=fields.get("uri", "").strip(),
        actions=[action for action in ACTIONS if fields.get(f"action-{action}") == "on"],
        scope=fields.get("scope", "").strip(),
        headers=headers,
    )


async def status(request: Request) -> Response:
    """Enable or disable a webhook (a disabled one gets no events)."""
    _, page, fields = await managing(request)
    spec = WebhookSpec(enabled=fields.get("enabled") == "true")
    await runtime_of(request).webhooks.update(page.name, fields.get("webhook", ""), spec)
    return _back(request, page.name)


async def ping(request: Request) -> Response:
    """Enqueue a ping event; it shows among the webhook's deliveries."""
    _, page, fields = await managing(request)
    await runtime_of(request).webhooks.ping(page.name, fields.get("webhook", ""))
    return _back(request, page.name)


async def delete(request: Request) -> Response:
    """Remove a webhook and its events."""
    _, page, fields = await managing(request)
    await runtime_of(request).webhooks.delete(page.name, fields.get("webhook", ""))
    return _back(request, page.name)


def _back(request: Request, name: str) -> Response:
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/registries/{name}/webhooks", 303)


def routes() -> list[Route]:
    """The webhook settings routes."""
    return [
        Route("/registries/{name}/webhooks/edit", edit, methods=["GET"]),
        Route("/registries/{name}/webhooks/update", update, methods=["POST"]),
        Route("/registries/{name}/webhooks/status", status, methods=["POST"]),
        Route("/registries/{name}/webhooks/ping", ping, methods=["POST"]),
        Route("/registries/{name}/webhooks/delete", delete, methods=["POST"]),
    ]
