"""How a delivery is sent: to the address the target check approved (no DNS rebinding), with
Portside's own headers winning, reading a bounded excerpt of any answer (no gzip bomb); the
outbox's pruning and what the deliverer reports to the metrics."""

from __future__ import annotations

import gzip
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import pytest
from sqlalchemy import update

from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.leases import LeaseStore
from portside.metadata.schema import webhook_events
from portside.metadata.webhook_events import WebhookEventStore
from portside.metadata.webhooks import WebhookStore
from portside.services.events import delivery
from portside.services.events.delivery import (
    EVENT_HEADER,
    DeliveryObserver,
    DeliveryPolicy,
    WebhookDeliverer,
)
from portside.services.events.targets import Resolver
from tests.metadata.lifecycle_data import Registry, image, registry
from tests.webhook_receiver import Receiver, serving

pytestmark = pytest.mark.anyio


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback."""
    with serving() as found:
        yield found


def resolving(*answers: list[str]) -> tuple[Resolver, list[str]]:
    """A resolver giving `answers` in turn (the last one again after them), and the names
    it was asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    return resolve, asked


def sender(db: Database, resolver: Resolver | None = None, **policy: Any) -> WebhookDeliverer:
    settings = {"timeout": 5.0, "first_delay": 60.0, **policy}
    extra: dict[str, Any] = {} if resolver is None else {"resolver": resolver}
    return WebhookDeliverer(
        WebhookEventStore(db), LeaseStore(db), DeliveryPolicy(**settings), holder="t", **extra
    )


async def hooked(db: Database, uri: str, headers: dict[str, str] | None = None) -> Registry:
    """The default registry with one push webhook to `uri`, and one push waiting."""
    reg = await registry(db)
    hook = await WebhookStore(db).create(reg.id, "deploy", uri, ("push",), "", headers or {}, True)
    assert hook is not None
    await reg.push(image(1), "v1")
    return reg


async def only_event(db: Database) -> Any:
    [event] = await WebhookEventStore(db).list(1)
    return event


async def test_a_name_resolving_to_loopback_is_refused_without_a_second_lookup(
    db: Database, receiver: Receiver
) -> None:
    await hooked(db, f"http://hooks.example.com:{receiver.port}/hook")
    resolve, asked = resolving(["127.0.0.1"])
    await sender(db, resolve, allow_private=False).deliver_due()
    event = await only_event(db)
    assert event.state == "failed" and "private" in event.last_error
    assert asked == ["hooks.example.com"] and receiver.received == []


async def test_the_connection_goes_to_the_checked_address_not_a_new_answer(
    db: Database, receiver: Receiver
) -> None:
    # The check sees a public address; the system resolver would say 127.0.0.1 for
    # `localhost`, where the receiver listens. Connecting by name would reach the receiver.
    await hooked(db, f"http://localhost:{receiver.port}/hook")
    resolve, asked = resolving(["8.8.8.8"], ["127.0.0.1"])
    await sender(db, resolve, allow_private=False, timeout=0.5).deliver_due()
    event = await only_event(db)
    assert asked == ["localhost"] and receiver.received == []
    assert event.state == "pending" and event.last_status is None  # retried later


async def test_the_pinned_address_is_reached_with_the_name_in_host(
    db: Database, receiver: Receiver
) -> None:
    await hooked(
        db,
        f"http://hooks.example.test:{receiver.port}/hook",
        # Stored before such names were refused: Portside's own values still win.
        {"X-Token": "t0k", "host": "evil.example", "content-type": "text/plain"},
    )
    resolve, asked = resolving(["127.0.0.1"])
    await sender(db, resolve, allow_private=True).deliver_due()
    event = await only_event(db)
    assert event.state == "delivered" and asked == ["hooks.example.test"]
    [(headers, payload)] = receiver.received
    lowered = {name.lower(): value for name, value in headers.items()}
    assert lowered["host"] == f"hooks.example.test:{receiver.port}"
    assert lowered["content-type"] == "application/json"
    assert lowered[EVENT_HEADER.lower()] == payload["id"] == event.id
    assert lowered["x-token"] == "t0k" and lowered["accept-encoding"] == "identity"


async def test_the_next_checked_address_is_tried_when_one_refuses_the_connection(
    db: Database, receiver: Receiver
) -> None:
    await hooked(db, f"http://hooks.example.test:{receiver.port}/hook")
    # Nothing listens on 127.0.0.2 (the receiver is bound to 127.0.0.1): refused at once.
    resolve, asked = resolving(["127.0.0.2", "127.0.0.1", "127.0.0.2"])
    await sender(db, resolve, allow_private=True).deliver_due()
    assert (await only_event(db)).state == "delivered" and asked == ["hooks.example.test"]
    assert len(receiver.received) == 1


async def test_a_name_that_does_not_resolve_is_retried(db: Database) -> None:
    await hooked(db, "http://nowhere.invalid/hook")

    async def fails(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    await sender(db, fails).deliver_due()
    event = await only_event(db)
    assert event.state == "pending" and "does not resolve" in event.last_error


async def test_a_compressed_answer_is_inflated_only_to_the_excerpt(
    db: Database, receiver: Receiver
) -> None:
    await hooked(db, receiver.url)
    bomb = gzip.compress(b"A" * (64 << 20), compresslevel=1)  # 64 MiB in ~300 KiB
    receiver.answer = (bomb, {"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        await sender(db, allow_private=True).deliver_due()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    event = await only_event(db)
    assert event.state == "delivered" and event.last_response == "A" * delivery.EXCERPT
    assert peak < 8 << 20, f"{peak} bytes at the peak"


async def test_an_answer_in_another_encoding_is_not_shown(db: Database, receiver: Receiver) -> None:
    await hooked(db, receiver.url)
    receiver.answer = (b"\x1b\x00\x00", {"Content-Encoding": "br"})
    await sender(db, allow_private=True).deliver_due()
    assert (await only_event(db)).last_response == "(a br-encoded answer, not shown)"


async def test_an_answer_with_nul_bytes_is_recorded(db: Database, receiver: Receiver) -> None:
    await hooked(db, receiver.url)
    receiver.answer = (b"ok\0\xff", {})
    await sender(db, allow_private=True).deliver_due()
    event = await only_event(db)
    assert event.state == "delivered" and event.last_response == "ok\ufffd\ufffd"


async def test_settled_events_past_their_retention_are_pruned_in_batches(
    db: Database, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = await hooked(db, receiver.url)
    for n in (2, 3, 4):
        await reg.push(image(n), f"v{n}")
    await sender(db, allow_private=True).deliver_due()
    await reg.push(image(5), "v5")  # pending: never pruned
    async with db.write() as conn:  # the first one settled long ago
        await conn.execute(
            update(webhook_events)
            .where(webhook_events.c.seq == 1)
            .values(next_attempt_at=utcnow() - timedelta(days=31))
        )
    assert await sender(db, allow_private=True).prune() == 1
    monkeypatch.setattr(delivery, "PRUNE_BATCH", 2)
    assert await sender(db, allow_private=True, retention=None).prune() == 0
    assert await sender(db, allow_private=True, retention=timedelta(0)).prune(max_batches=1) == 2
    assert await sender(db, allow_private=True, retention=timedelta(0)).prune() == 1
    [left] = await WebhookEventStore(db).list(1)
    assert left.state == "pending" and left.payload["target"]["tag"] == "v5"


async def test_the_deliverer_reports_outcomes_and_the_queue_depth(
    db: Database, receiver: Receiver
) -> None:
    reg = await hooked(db, receiver.url)
    await reg.push(image(2), "v2")
    outcomes: list[str] = []
    depths: list[int] = []
    observer = DeliveryObserver(outcomes.append, depths.append)
    receiver.statuses = [503]
    deliverer = WebhookDeliverer(
        WebhookEventStore(db),
        LeaseStore(db),
        DeliveryPolicy(first_delay=60.0, allow_private=True),
        holder="t",
        observer=observer,
    )
    await deliverer.deliver_due()
    assert outcomes == ["retry"] and depths == [2]
    receiver.statuses = [404]
    await WebhookEventStore(db).redeliver(1, (await WebhookEventStore(db).list(1))[-1].id)
    await deliverer.deliver_due()
    assert outcomes == ["retry", "failed", "delivered"] and depths == [2, 0]


async def test_a_webhooks_events_go_in_one_run_that_stops_at_a_failure(
    db: Database, receiver: Receiver
) -> None:
    reg = await hooked(db, receiver.url)
    for n in (2, 3, 4):
        await reg.push(image(n), f"v{n}")
    receiver.statuses = [200, 500]
    assert await sender(db, allow_private=True, first_delay=0.5).deliver_due() == 2
    assert [p["target"]["tag"] for p in receiver.wait_for(2)] == ["v1", "v2"]
    states = [e.state for e in reversed(await WebhookEventStore(db).list(1))]
    assert states == ["delivered", "pending", "pending", "pending"]
    # Runs are as long as `per_hook` events; the next run goes on where one ended.
    await anyio.sleep(0.6)
    assert await sender(db, allow_private=True, per_hook=2).deliver_due() == 3
    assert [p["target"]["tag"] for p in receiver.wait_for(5)] == ["v1", "v2", "v2", "v3", "v4"]
