"""Delivering the outbox: POST each due event to its webhook, retry with exponential backoff,
give up after the retry window.

One process of the cluster delivers at a time (the `webhooks` lease, as the collector's). The
outbox hands out, for each webhook whose oldest pending event is due, its next events in
order; they are sent one after another, and the first that is not delivered stops the
webhook's run, so a webhook's events arrive in the order of the changes. Webhooks are served
in parallel. An event is marked delivered only after its receiver
answered 2xx: a crash in between sends it again (at least once; receivers deduplicate by
`id`). Errors, timeouts, 5xx and 429 are retried; any other answer (a redirect, which is not
followed, or a 4xx) fails the event at once; it stays for `list-events` and `redeliver`.

Each request goes to an address the target check approved (targets.pinned_addresses: the
next one only if connecting to the one before failed), with the name in `Host` and in TLS's
SNI, so a name cannot answer the check and the connection differently. The holder of the
lease also reports the outbox's depth once per poll (a gauge read for free by scrapes) and
prunes settled events past their retention, a batch at a time.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import httpx

from portside.logs import job_failed
from portside.metadata.clock import utcnow
from portside.metadata.leases import LeaseStore
from portside.metadata.webhook_events import Attempt, DueEvent, WebhookEventStore
from portside.services.events.targets import (
    EVENT_HEADER,
    Resolver,
    Unresolved,
    pinned_addresses,
    resolve,
    split_target,
)
from portside.services.management.errors import Invalid

__all__ = [
    "EVENT_HEADER",
    "LEASE",
    "DeliveryObserver",
    "DeliveryPolicy",
    "WebhookDeliverer",
    "deliver_periodically",
]

LEASE = "webhooks"
"""The name of the lease the delivering process holds."""

EXCERPT = 1024
"""Characters of a receiver's answer kept for `list-events`."""

RAW_LIMIT = 16 * 1024
"""Bytes of a receiver's answer read at most, before any decompression."""

RECORD_EVERY = 16
"""Delivery outcomes of one webhook's run written per transaction."""

PRUNE_BATCH = 500
"""Settled events deleted per statement: a long backlog goes in short transactions."""

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
    per_hook: int = 64
    retention: timedelta | None = timedelta(days=30)
    prune_every: float = 600.0


@dataclass(frozen=True, slots=True)
class DeliveryObserver:
    """Where the deliverer reports to (the metrics): each attempt's outcome (`delivered`,
    `retry` or `failed`), and the outbox's pending events once per poll."""

    attempted: Callable[[str], None] = lambda outcome: None
    pending: Callable[[int], None] = lambda count: None


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
        lease_ttl: timedelta | None = None,
        observer: DeliveryObserver | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        self._events = events
        self._leases = leases
        self._policy = policy
        self._holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # The lease is renewed before each batch, and a batch lasts at most two timeouts (no
        # event starts after the first): a short lease lets a restarted (or another) process
        # take over soon after a crash.
        self._ttl = lease_ttl or timedelta(seconds=3 * policy.timeout + 10)
        self._observer = observer or DeliveryObserver()
        self._resolver = resolver
        self._next_prune = 0.0

    async def deliver_due(self) -> int:
        """Take (or renew) the lease and send what is due, a batch at a time, until nothing
        is; how many attempts were made (0 if another process holds the lease)."""
        made = 0
        client: httpx.AsyncClient | None = None
        try:
            while True:
                with anyio.CancelScope(shield=True):
                    if not await self._leases.acquire(LEASE, self._holder, self._ttl):
                        return made
                    due = await self._events.due(self._policy.batch, self._policy.per_hook)
                if not due:
                    await self._settle()
                    return made
                if client is None:
                    # Made only once something is due: a client loads the CA bundle into a new
                    # TLS context, ~50 ms of CPU, which every idle poll (each second, in every
                    # worker) used to spend for nothing.
                    client = httpx.AsyncClient(
                        timeout=self._policy.timeout, follow_redirects=False, trust_env=False
                    )
                runs: dict[int, list[DueEvent]] = {}
                for event in due:
                    runs.setdefault(event.webhook_id, []).append(event)
                until = time.monotonic() + self._policy.timeout
                sent = [0]
                async with anyio.create_task_group() as tasks:
                    for run in runs.values():
                        tasks.start_soon(self._deliver_run, client, run, until, sent)
                made += sent[0]
        finally:
            if client is not None:
                with anyio.CancelScope(shield=True):
                    await client.aclose()

    async def prune(self, max_batches: int = 20) -> int:
        """Delete delivered and failed events older than the retention, at most
        `max_batches` short transactions of PRUNE_BATCH; how many went."""
        retention = self._policy.retention
        if retention is None:
            return 0
        before = utcnow() - retention
        pruned = 0
        for _ in range(max_batches):
            went = await self._events.prune(before, PRUNE_BATCH)
            pruned += went
            if went < PRUNE_BATCH:
                break
        return pruned

    async def _settle(self) -> None:
        """The lease holder's chores once nothing is due: report the depth, prune now and
        then."""
        self._observer.pending(await self._events.pending_count())
        if time.monotonic() >= self._next_prune:
            pruned = await self.prune()
            # A backlog left over is taken up at the next idle poll, not in ten minutes.
            full = pruned >= 20 * PRUNE_BATCH
            self._next_prune = time.monotonic() + (0 if full else self._policy.prune_every)
            if pruned:
                log.info("pruned %d settled webhook event(s) past their retention", pruned)

    async def release(self) -> None:
        """Give the lease up (at shutdown), so another process takes over at once."""
        await self._leases.release(LEASE, self._holder)

    async def _deliver_run(
        self, client: httpx.AsyncClient, run: list[DueEvent], until: float, sent: list[int]
    ) -> None:
        """One webhook's events in order, until one is not delivered or the batch's time to
        start events (`until`) is over; counts the attempts into `sent`.

        Outcomes are recorded RECORD_EVERY at a time (a write transaction each is most of an
        event's cost); a crash before they are loses no event, it sends them again.
        """
        settled: list[tuple[int, Attempt, datetime | None]] = []
        try:
            for n, event in enumerate(run):
                if n and time.monotonic() > until:
                    return
                sent[0] += 1
                attempt, retryable = await self._send(client, event)
                retry_at = None if attempt.delivered else self._next_attempt(event, retryable)
                settled.append((event.seq, attempt, retry_at))
                self._report(event, attempt, retry_at)
                if not attempt.delivered:
                    return
                if len(settled) >= RECORD_EVERY:
                    with anyio.CancelScope(shield=True):
                        await self._events.record_many(settled)
                    settled = []
        finally:
            if settled:
                with anyio.CancelScope(shield=True):
                    await self._events.record_many(settled)

    def _report(self, event: DueEvent, attempt: Attempt, retry_at: datetime | None) -> None:
        """Count the attempt; log one that did not deliver."""
        outcome = "delivered" if attempt.delivered else "retry" if retry_at else "failed"
        self._observer.attempted(outcome)
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
            url = httpx.URL(event.uri)
            host, port = split_target(event.uri)
            addresses = await pinned_addresses(
                host, port, allow_private=self._policy.allow_private, resolver=self._resolver
            )
        except Invalid as refused:  # TargetRefused, or a URI stored before a stricter rule
            return Attempt(False, None, None, refused.message, took()), False
        except Unresolved as unresolved:
            return Attempt(False, None, None, str(unresolved), took()), True
        try:
            # httpx's timeout bounds each read, not the exchange: a receiver trickling its
            # answer would otherwise hold the whole batch (every registry's webhooks) for hours.
            with anyio.fail_after(self._policy.timeout):
                response, excerpt = await _post(client, event, url, addresses)
        except TimeoutError:
            message = f"no answer within {self._policy.timeout:g} seconds"
            return Attempt(False, None, None, message, took()), True
        except httpx.HTTPError as error:
            message = f"{type(error).__name__}: {error}"[:EXCERPT]
            return Attempt(False, None, None, message, took()), True
        status = response.status_code
        delivered = 200 <= status < 300
        return Attempt(delivered, status, excerpt, None, took()), _retryable(status)


async def _post(
    client: httpx.AsyncClient, event: DueEvent, url: httpx.URL, addresses: list[str]
) -> tuple[httpx.Response, str]:
    """POST the event to the first of `addresses` that takes the connection; the answer and
    the start of its body. The last ConnectError if none does."""
    headers = _headers(event, url)
    # SNI and certificate checks use the name; the connection uses a checked address.
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    for address in addresses[:-1]:
        try:
            return await _post_to(client, url.copy_with(host=address), event, headers, extensions)
        except httpx.ConnectError:
            continue
    return await _post_to(client, url.copy_with(host=addresses[-1]), event, headers, extensions)


async def _post_to(
    client: httpx.AsyncClient,
    url: httpx.URL,
    event: DueEvent,
    headers: httpx.Headers,
    extensions: dict[str, str],
) -> tuple[httpx.Response, str]:
    """One POST of the event to `url`; the answer and the start of its body."""
    async with client.stream(
        "POST", url, content=event.payload.encode(), headers=headers, extensions=extensions
    ) as response:
        return response, await _excerpt(response)


def _headers(event: DueEvent, url: httpx.URL) -> httpx.Headers:
    """The webhook's custom headers, then Portside's own, which no custom header overrides
    (names the service refuses today may be stored from before)."""
    headers = httpx.Headers(event.headers)
    headers.setdefault("User-Agent", "Portside-Webhooks")
    headers["Host"] = url.netloc.decode("ascii")
    headers["Content-Type"] = "application/json"
    # An encoded answer is only shown, never needed: ask for it plain.
    headers["Accept-Encoding"] = "identity"
    headers[EVENT_HEADER] = event.id
    for framing in ("Content-Length", "Transfer-Encoding", "Connection"):
        headers.pop(framing, None)
    return headers


async def _excerpt(response: httpx.Response) -> str:
    """The start of the answer's body, read as sent (at most RAW_LIMIT bytes) and decompressed
    to at most EXCERPT bytes: a small compressed answer may not inflate without bound."""
    raw = bytearray()
    async for chunk in response.aiter_raw():
        raw += chunk
        if len(raw) >= RAW_LIMIT:
            break
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        body = bytes(raw[:EXCERPT])
    elif encoding in ("gzip", "x-gzip", "deflate"):
        # 47: a gzip or zlib header, whichever is there; deflate without one is rare and shown
        # as undecodable.
        try:
            body = zlib.decompressobj(47).decompress(bytes(raw[:RAW_LIMIT]), EXCERPT)
        except zlib.error:
            return f"(a {encoding[:20]} answer that does not decompress)"
    else:
        return f"(a {encoding[:20]}-encoded answer, not shown)"
    # PostgreSQL's text holds no NUL: an answer with one must not make the attempt unrecordable.
    return body[:EXCERPT].decode("utf-8", "replace").replace("\0", "\ufffd")


async def deliver_periodically(deliverer: WebhookDeliverer, interval_seconds: float) -> None:
    """Deliver what is due every `interval_seconds` until cancelled (every process may run
    this: the lease lets one deliver)."""
    try:
        while True:
            try:
                await deliverer.deliver_due()
            except Exception:
                job_failed(log, "delivering webhook events failed; will retry")
            await anyio.sleep(interval_seconds)
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await deliverer.release()
            except Exception:
                job_failed(log, "releasing the webhook delivery lease failed")
