"""`WebhookService`: a registry's webhooks, like `az acr webhook`: create (within the SKU's
quota), list, show, update, delete, get-config, ping, list-events, and redeliver.

Custom headers often carry a receiver's secret: they are stored to be sent, and every answer
after creation shows their names with masked values. Headers that frame or route the request,
or that Portside sets itself, are refused (`RESERVED_HEADERS`).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from portside.metadata.errors import QuotaViolation
from portside.metadata.registries import RegistryStore
from portside.metadata.replication import ReplicationStore
from portside.metadata.webhook_events import EventRecord, WebhookEventStore
from portside.metadata.webhooks import WebhookRecord, WebhookStore
from portside.services.events.targets import EVENT_HEADER, check_uri
from portside.services.management.errors import Conflict, Invalid, NotFound, QuotaReached

__all__ = ["ACTIONS", "MASK", "RESERVED_HEADERS", "WebhookService", "WebhookSpec"]

ACTIONS = ("push", "delete", "quarantine", "chart_push", "chart_delete")
"""ACR's webhook actions (Portside raises push and delete; the others are accepted)."""

MASK = "*****"
"""What a header value is shown as."""

RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "Content-Type",
        "Content-Encoding",
        "Connection",
        "Keep-Alive",
        "Upgrade",
        "TE",
        "Trailer",
        "Expect",
        "Accept-Encoding",
        EVENT_HEADER,
    )
)
"""Header names a webhook may not set: the request's framing and target, and what Portside
sends itself (a receiver relies on the payload's type and the event id being Portside's)."""

_NAME = re.compile(r"[A-Za-z0-9]{5,50}")
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
MAX_HEADERS = 16
MAX_SCOPE = 300


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """What a create or update asks for; None keeps (update) or defaults (create)."""

    uri: str | None = None
    actions: Sequence[str] | None = None
    scope: str | None = None
    headers: Mapping[str, str] | None = None
    enabled: bool | None = None
    location: str | None = None  # "" on update: no location any more


def masked(record: WebhookRecord) -> WebhookRecord:
    """The record with its header values hidden."""
    return replace(record, headers={name: MASK for name in record.headers})


def _actions(actions: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(a.strip().lower() for a in actions))
    unknown = [a for a in chosen if a not in ACTIONS]
    if not chosen or unknown:
        raise Invalid(f"webhook actions are some of {', '.join(ACTIONS)}; got {unknown or '[]'}")
    return chosen


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        raise Invalid(f"a webhook has at most {MAX_HEADERS} custom headers")
    for name, value in headers.items():
        if not _HEADER.fullmatch(name) or len(value) > 4096 or any(c in value for c in "\r\n"):
            raise Invalid(f"invalid custom header {name[:100]!r}")
        if name.lower() in RESERVED_HEADERS:
            raise Invalid(f"the custom header {name!r} is set by Portside and cannot be overridden")
    return dict(headers)


def _scope(scope: str) -> str:
    if len(scope) > MAX_SCOPE or any(c.isspace() for c in scope):
        raise Invalid(f"a webhook scope is `repository[:tag]`, at most {MAX_SCOPE} characters")
    return scope


class WebhookService:
    """Webhooks of registries, and their events."""

    def __init__(
        self,
        registries: RegistryStore,
        webhooks: WebhookStore,
        events: WebhookEventStore,
        *,
        allow_private: bool = False,
        replications: ReplicationStore | None = None,
        locations: Sequence[str] = (),
    ) -> None:
        self._registries = registries
        self._webhooks = webhooks
        self._events = events
        self._allow_private = allow_private
        self._replications = replications
        self._locations = frozenset(locations)

    async def create(self, registry: str, name: str, spec: WebhookSpec) -> WebhookRecord:
        """Add a webhook (enabled, all repositories, unless `spec` says otherwise).

        Invalid for a bad name, URI, action, scope or header; TargetRefused for a private
        target; Conflict if the name is taken; QuotaReached at the registry's webhook quota.
        """
        registry_id = await self._registry_id(registry)
        if not _NAME.fullmatch(name):
            raise Invalid("a webhook name is 5 to 50 letters and digits")
        if spec.uri is None or spec.actions is None:
            raise Invalid("a webhook needs a URI and actions")
        uri = await check_uri(spec.uri, allow_private=self._allow_private)
        try:
            created = await self._webhooks.create(
                registry_id,
                name,
                uri,
                _actions(spec.actions),
                _scope(spec.scope or ""),
                _headers(spec.headers or {}),
                True if spec.enabled is None else spec.enabled,
                await self._location(registry_id, spec.location),
            )
        except QuotaViolation as quota:
            raise QuotaReached(
                f"the registry has reached its quota of {quota.limit} webhook(s)"
            ) from None
        if created is None:
            raise Conflict(f"webhook {name!r} already exists in {registry!r}")
        return masked(created)

    async def list(self, registry: str) -> builtins.list[WebhookRecord]:
        """The registry's webhooks by name, headers masked."""
        return [masked(r) for r in await self._webhooks.list(await self._registry_id(registry))]

    async def show(self, registry: str, name: str) -> WebhookRecord:
        """One webhook, headers masked; NotFound if there is none."""
        return masked(await self._hook(registry, name))

    async def update(self, registry: str, name: str, spec: WebhookSpec) -> WebhookRecord:
        """Change what `spec` names; headers given replace all of them."""
        hook = await self._hook(registry, name)
        changes: dict[str, Any] = {}
        if spec.uri is not None:
            changes["uri"] = await check_uri(spec.uri, allow_private=self._allow_private)
        if spec.actions is not None:
            changes["actions"] = _actions(spec.actions)
        if spec.scope is not None:
            changes["scope"] = _scope(spec.scope)
        if spec.headers is not None:
            changes["headers"] = _headers(spec.headers)
        if spec.enabled is not None:
            changes["enabled"] = spec.enabled
        if spec.location is not None:
            changes["location"] = await self._location(hook.registry_id, spec.location)
        updated = await self._webhooks.update(hook.registry_id, name, changes)
        if updated is None:
            raise NotFound(f"webhook {name!r} does not exist in {registry!r}")
        return masked(updated)

    async def delete(self, registry: str, name: str) -> None:
        """Remove a webhook and its events."""
        hook = await self._hook(registry, name)
        if not await self._webhooks.delete(hook.registry_id, name):
            raise NotFound(f"webhook {name!r} does not exist in {registry!r}")

    async def ping(self, registry: str, name: str) -> str:
        """Enqueue a ping event (delivered like any other); its id."""
        hook = await self._hook(registry, name)
        return await self._webhooks.ping(hook.id)

    async def events(self, registry: str, name: str) -> builtins.list[EventRecord]:
        """The webhook's most recent events with their last delivery, newest first."""
        hook = await self._hook(registry, name)
        return await self._events.list(hook.id)

    async def redeliver(self, registry: str, name: str, event_id: str) -> EventRecord:
        """Send an event again with the same id and payload; NotFound if it is not there."""
        hook = await self._hook(registry, name)
        if len(event_id) > 36 or not await self._events.redeliver(hook.id, event_id):
            raise NotFound(f"event {event_id[:36]!r} does not exist for webhook {name!r}")
        found = await self._events.get(hook.id, event_id)
        assert found is not None
        return found

    async def _registry_id(self, registry: str) -> int:
        record = await self._registries.get(registry.lower()) if len(registry) <= 64 else None
        if record is None:
            raise NotFound(f"registry {registry[:64]!r} does not exist")
        return record.id

    async def _location(self, registry_id: int, location: str | None) -> str | None:
        """A regional webhook's location, if it names one the registry is replicated to or the
        deployment knows; Invalid otherwise."""
        if not location:
            return None
        if location in self._locations:
            return location
        if self._replications and await self._replications.get(registry_id, location):
            return location
        known = sorted(self._locations)
        raise Invalid(
            f"unknown location {location[:63]!r}: a webhook's location is one of the "
            f"deployment's locations ({', '.join(known) or 'none: not geo-replicated'}) "
            "or of the registry's replications"
        )

    async def _hook(self, registry: str, name: str) -> WebhookRecord:
        registry_id = await self._registry_id(registry)
        found = await self._webhooks.get(registry_id, name) if len(name) <= 50 else None
        if found is None:
            raise NotFound(f"webhook {name[:50]!r} does not exist in {registry!r}")
        return found
