"""Delivering the outbox: POST each due event to its webhook, retry with exponential backoff,
give up after the retry window.

One process of the cluster delivers at a time (the `webhooks` lease, as the collector's); the
outbox makes each webhook's oldest pending event its only due one, so a webhook's events
arrive in the order of the changes. An event is marked delivered only after its receiver
answered 2xx: a crash in between sends it again (at least once; receivers deduplicate by
`id`). Errors, timeouts, 5xx and 429 are retried; any other answer (a redirect, which is not
followed, or a 4xx) fails the event at once; it stays for `list-events` and `redeliver`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import httpx

from portside.metadata.clock import utcnow
from portside.metadata.leases import LeaseStore
from portside.metadata.webhook_events import Attempt, DueEvent, WebhookEventStore
from portside.services.events.targets import check_address, split_target
from portside.services.management.errors import Invalid

__all__ = ["LEASE", "DeliveryPolicy", "WebhookDeliverer", "deliver_periodically"]

LEASE = "webhooks"
"""The name of the lease the delivering process holds."""

EXCERPT = 1024
"""Characters of a receiver's answer kept for `list-events`."""

log = logging.getLogger("portside.webhooks")


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How deliveries are made and retried."""

    timeout: float = 10.0
    retry_window: timedelta = timedelta(hours=24)
    first_delay: float = 5.0
    max_delay: float = 3600.0
    allow_private: bool = False
    batch: int = 32


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


class WebhookDeliverer:
    """Sends due events while it holds the delivery lease."""

    def __init__(
        self,
        events: WebhookEventStore,
        leases: LeaseStore,
        policy: DeliveryPolicy,
        *,
        holder: str | None = None,
        lease_ttl: timedelta = timedelta(minutes=2),
    ) -> None:
        self._events = events
        self._leases = leases
        self._policy = policy
        self._holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._ttl = lease_ttl

    async def deliver_due(self) -> int:
        """Take (or renew) the lease and send what is due, a batch at a time, until nothing
        is; how many attempts were made (0 if another process holds the lease)."""
        made = 0
        async with httpx.AsyncClient(
            timeout=self._policy.timeout, follow_redirects=False, trust_env=False
        ) as client:
            while True:
                with anyio.CancelScope(shield=True):
                    if not await self._leases.acquire(LEASE, self._holder, self._ttl):
                        return made
                    due = await self._events.due(self._policy.batch)
                if not due:
                    return made
                async with anyio.create_task_group() as tasks:
                    for event in due:
                        tasks.start_soon(self._deliver, client, event)
                made += len(due)

    async def release(self) -> None:
        """Give the lease up (at shutdown), so another process takes over at once."""
        await self._leases.release(LEASE, self._holder)

    async def _deliver(self, client: httpx.AsyncClient, event: DueEvent) -> None:
        attempt, retryable = await self._send(client, event)
        retry_at = None if attempt.delivered else self._next_attempt(event, retryable)
        with anyio.CancelScope(shield=True):
            await self._events.record(event.seq, attempt, retry_at)
        if not attempt.delivered:
            log.info(
                "webhook event %s not delivered (%s); %s",
                event.id,
                attempt.error or attempt.status,
                f"retry at {retry_at.isoformat()}" if retry_at else "failed",
            )

    def _next_attempt(self, event: DueEvent, retryable: bool) -> datetime | None:
        """When to try again, or None: the event fails."""
        if not retryable:
            return None
        now = utcnow()
        deadline = event.retry_from + self._policy.retry_window
        if now >= deadline:
            return None
        delay = min(self._policy.first_delay * 2**event.attempts, self._policy.max_delay)
        # The last attempt falls at the end of the window rather than past it.
        return min(now + timedelta(seconds=delay), deadline)

    async def _send(self, client: httpx.AsyncClient, event: DueEvent) -> tuple[Attempt, bool]:
        """One POST; the attempt, and whether a failure is worth retrying."""
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            host, port = split_target(event.uri)
            await check_address(host, port, allow_private=self._policy.allow_private)
        except Invalid as refused:  # TargetRefused, or a URI stored before a stricter rule
            return Attempt(False, None, None, refused.message, took()), False
        headers = {"Content-Type": "application/json", "User-Agent": "Portside-Webhooks"}
        headers.update(event.headers)
        try:
            # httpx's timeout bounds each read, not the exchange: a receiver trickling its
            # answer would otherwise hold the whole batch (every registry's webhooks) for hours.
            with anyio.fail_after(self._policy.timeout):
                async with client.stream(
                    "POST", event.uri, content=event.payload.encode(), headers=headers
                ) as response:
                    excerpt = await _excerpt(response)
        except TimeoutError:
            message = f"no answer within {self._policy.timeout:g} seconds"
            return Attempt(False, None, None, message, took()), True
        except httpx.HTTPError as error:
            message = f"{type(error).__name__}: {error}"[:EXCERPT]
            return Attempt(False, None, None, message, took()), True
        status = response.status_code
        delivered = 200 <= status < 300
        return Attempt(delivered, status, excerpt, None, took()), _retryable(status)


async def _excerpt(response: httpx.Response) -> str:
    """The start of the answer's body: a receiver's answer is not read to its end."""
    taken = b""
    async for chunk in response.aiter_bytes():
        taken += chunk
        if len(taken) >= EXCERPT:
            break
    return taken[:EXCERPT].decode("utf-8", "replace")


async def deliver_periodically(deliverer: WebhookDeliverer, interval_seconds: float) -> None:
    """Deliver what is due every `interval_seconds` until cancelled (every process may run
    this: the lease lets one deliver)."""
    try:
        while True:
            try:
                await deliverer.deliver_due()
            except Exception:
                log.exception("delivering webhook events failed; will retry")
            await anyio.sleep(interval_seconds)
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await deliverer.release()
            except Exception:
                log.exception("releasing the webhook delivery lease failed")
