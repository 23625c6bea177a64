"""Bodies of the webhook routes (camelCase, as ARM writes ACR's webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from portside.api.management.models import ApiModel
from portside.metadata.webhook_events import EventRecord
from portside.metadata.webhooks import WebhookRecord
from portside.services.events.targets import MAX_URI
from portside.services.events.webhooks import ACTIONS, MAX_HEADERS, MAX_SCOPE, WebhookSpec

__all__ = [
    "Webhook",
    "WebhookConfig",
    "WebhookCreate",
    "WebhookEvent",
    "WebhookEventId",
    "WebhookUpdate",
]

Status = Literal["enabled", "disabled"]
_Actions = Field(min_length=1, max_length=len(ACTIONS))


class WebhookCreate(ApiModel):
    """POST /registries/{name}/webhooks."""

    name: str = Field(min_length=5, max_length=50)
    service_uri: str = Field(max_length=MAX_URI)
    actions: list[str] = _Actions
    scope: str = Field("", max_length=MAX_SCOPE)
    custom_headers: dict[str, str] = Field(default_factory=dict, max_length=MAX_HEADERS)
    status: Status = "enabled"
    location: str | None = Field(None, max_length=63)

    def spec(self) -> WebhookSpec:
        """What the service is asked for."""
        return WebhookSpec(
            self.service_uri,
            self.actions,
            self.scope,
            self.custom_headers,
            self.status == "enabled",
            self.location,
        )


class WebhookUpdate(ApiModel):
    """PATCH /registries/{name}/webhooks/{webhook}: fields given replace the stored ones."""

    service_uri: str | None = Field(None, max_length=MAX_URI)
    actions: list[str] | None = Field(None, min_length=1, max_length=len(ACTIONS))
    scope: str | None = Field(None, max_length=MAX_SCOPE)
    custom_headers: dict[str, str] | None = Field(None, max_length=MAX_HEADERS)
    status: Status | None = None
    location: str | None = Field(None, max_length=63)  # "" removes it

    def spec(self) -> WebhookSpec:
        """What the service is asked for."""
        enabled = None if self.status is None else self.status == "enabled"
        return WebhookSpec(
            self.service_uri, self.actions, self.scope, self.custom_headers, enabled, self.location
        )


class Webhook(ApiModel):
    """A webhook (its URI and headers only through /config, as ACR shows them)."""

    name: str
    actions: list[str]
    scope: str
    status: Status
    creation_date: datetime
    location: str | None = None

    @classmethod
    def of(cls, record: WebhookRecord) -> Webhook:
        """From a webhook record."""
        return cls(
            name=record.name,
            actions=list(record.actions),
            scope=record.scope,
            status="enabled" if record.enabled else "disabled",
            creation_date=record.created_at,
            location=record.location,
        )


class WebhookConfig(ApiModel):
    """Where a webhook sends: its URI and custom headers (values masked)."""

    service_uri: str
    custom_headers: dict[str, str]

    @classmethod
    def of(cls, record: WebhookRecord) -> WebhookConfig:
        """From a (masked) webhook record."""
        return cls(service_uri=record.uri, custom_headers=record.headers)


class WebhookEventId(ApiModel):
    """The id of an enqueued event."""

    id: str


class WebhookEvent(ApiModel):
    """An event and its last delivery: what was sent, what the receiver answered."""

    id: str
    action: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    creation_date: datetime
    next_attempt: datetime | None
    last_attempt: datetime | None
    request_content: dict[str, Any]
    response_status: int | None
    response_body: str | None
    error: str | None
    duration_ms: int | None

    @classmethod
    def of(cls, record: EventRecord) -> WebhookEvent:
        """From an event record."""
        return cls(
            id=record.id,
            action=record.action,
            state=record.state,
            attempts=record.attempts,
            creation_date=record.created_at,
            next_attempt=record.next_attempt_at if record.state == "pending" else None,
            last_attempt=record.last_attempt_at,
            request_content=record.payload,
            response_status=record.last_status,
            response_body=record.last_response,
            error=record.last_error,
            duration_ms=record.last_duration_ms,
        )
