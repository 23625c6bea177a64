"""Routes: a registry's webhooks (`az acr webhook`), their events and redelivery."""

from __future__ import annotations

from fastapi import Request, Response

from portside.api.management.routing import ManagementRouter
from portside.api.management.security import ContributorCaller
from portside.api.management.webhooks_models import (
    Webhook,
    WebhookConfig,
    WebhookCreate,
    WebhookEvent,
    WebhookEventId,
    WebhookUpdate,
)
from portside.services.events.webhooks import WebhookService

__all__ = ["router", "webhooks_of"]

router = ManagementRouter(tag="webhooks")

_ONE = "/registries/{name}/webhooks/{webhook}"


def webhooks_of(request: Request) -> WebhookService:
    """The webhook service the app was built with."""
    service = request.app.state.webhooks
    assert isinstance(service, WebhookService)
    return service


@router.get("/registries/{name}/webhooks", summary="List webhooks")
async def list_webhooks(request: Request, name: str, caller: ContributorCaller) -> list[Webhook]:
    """The registry's webhooks, by name."""
    return [Webhook.of(record) for record in await webhooks_of(request).list(name)]


@router.post("/registries/{name}/webhooks", status_code=201, summary="Create a webhook")
async def create_webhook(
    request: Request, name: str, body: WebhookCreate, caller: ContributorCaller
) -> Webhook:
    """Add a webhook, within the registry's webhook quota; custom header values are never
    shown again."""
    return Webhook.of(await webhooks_of(request).create(name, body.name, body.spec()))


@router.get(_ONE, summary="Show a webhook")
async def show_webhook(
    request: Request, name: str, webhook: str, caller: ContributorCaller
) -> Webhook:
    """One webhook."""
    return Webhook.of(await webhooks_of(request).show(name, webhook))


@router.patch(_ONE, summary="Update a webhook")
async def update_webhook(
    request: Request, name: str, webhook: str, body: WebhookUpdate, caller: ContributorCaller
) -> Webhook:
    """Change the URI, actions, scope, custom headers (all replaced) or status."""
    return Webhook.of(await webhooks_of(request).update(name, webhook, body.spec()))


@router.delete(_ONE, status_code=204, summary="Delete a webhook")
async def delete_webhook(
    request: Request, name: str, webhook: str, caller: ContributorCaller
) -> Response:
    """Remove a webhook and its events."""
    await webhooks_of(request).delete(name, webhook)
    return Response(status_code=204)


@router.get(f"{_ONE}/config", summary="Show a webhook's URI and headers")
async def webhook_config(
    request: Request, name: str, webhook: str, caller: ContributorCaller
) -> WebhookConfig:
    """The service URI and the custom headers' names (values masked)."""
    return WebhookConfig.of(await webhooks_of(request).show(name, webhook))


@router.post(f"{_ONE}/ping", summary="Ping a webhook")
async def ping_webhook(
    request: Request, name: str, webhook: str, caller: ContributorCaller
) -> WebhookEventId:
    """Enqueue a ping event; its id (see the events for its delivery)."""
    return WebhookEventId(id=await webhooks_of(request).ping(name, webhook))


@router.get(f"{_ONE}/events", summary="List a webhook's events")
async def list_webhook_events(
    request: Request, name: str, webhook: str, caller: ContributorCaller
) -> list[WebhookEvent]:
    """Recent events, newest first, each with what was sent and how the receiver answered."""
    return [WebhookEvent.of(event) for event in await webhooks_of(request).events(name, webhook)]


@router.post(f"{_ONE}/events/{{event}}/redeliver", summary="Redeliver an event")
async def redeliver_webhook_event(
    request: Request, name: str, webhook: str, event: str, caller: ContributorCaller
) -> WebhookEvent:
    """Send an event again, with the same id and payload (ACR has no such call)."""
    return WebhookEvent.of(await webhooks_of(request).redeliver(name, webhook, event))
