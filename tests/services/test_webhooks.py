"""Webhook deliveries to a real HTTP receiver on loopback: retries after a failure, the same
id on redelivery, custom headers sent, private targets refused unless allowed; the service's
validation, masking and quota."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import pytest

from portside.metadata.database import Database
from portside.metadata.leases import LeaseStore
from portside.metadata.manifests import ManifestStore
from portside.metadata.registries import RegistryStore
from portside.metadata.webhook_events import WebhookEventStore
from portside.metadata.webhooks import EventContext, WebhookStore
from portside.services.events.delivery import DeliveryPolicy, WebhookDeliverer
from portside.services.events.targets import TargetRefused
from portside.services.events.webhooks import MASK, WebhookService, WebhookSpec
from portside.services.management.errors import Conflict, Invalid, QuotaReached
from tests.metadata.lifecycle_data import image, registry
from tests.webhook_receiver import Receiver, serving

pytestmark = pytest.mark.anyio


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback."""
    with serving() as found:
        yield found


def deliverer(db: Database, **policy: Any) -> WebhookDeliverer:
    settings = {"timeout": 5.0, "first_delay": 2.0, "allow_private": True, **policy}
    return WebhookDeliverer(
        WebhookEventStore(db), LeaseStore(db), DeliveryPolicy(**settings), holder="test"
    )


async def test_a_failed_delivery_is_retried_and_redelivery_keeps_the_id(
    db: Database, receiver: Receiver
) -> None:
    reg = await registry(db)
    hooks, events = WebhookStore(db), WebhookEventStore(db)
    hook = await hooks.create(
        reg.id, "deploy", receiver.url, ("push",), "", {"X-Secret": "s3cret"}, True
    )
    assert hook is not None
    context = EventContext("r1", "reg.example", "PUT", "docker/27", "alice")
    await ManifestStore(db).put(reg.id, "app", image(1), "v1", context)
    receiver.statuses = [503]
    sender = deliverer(db)

    assert await sender.deliver_due() == 1
    [event] = await events.list(hook.id)
    assert (event.state, event.attempts, event.last_status) == ("pending", 1, 503)
    assert await sender.deliver_due() == 0  # not due before its backoff
    await anyio.sleep(2.1)
    assert await sender.deliver_due() == 1
    [event] = await events.list(hook.id)
    assert (event.state, event.attempts, event.last_status) == ("delivered", 2, 200)
    assert event.last_response == "thanks!" and event.last_duration_ms is not None
    assert receiver.ids() == [event.id, event.id]
    headers, payload = receiver.received[-1]
    assert headers["X-Secret"] == "s3cret"
    assert headers["Content-Type"] == "application/json"
    assert payload["target"]["tag"] == "v1" and payload["request"]["id"] == "r1"

    assert await events.redeliver(hook.id, event.id)
    assert await sender.deliver_due() == 1
    assert receiver.ids() == [event.id] * 3


async def test_events_of_a_webhook_arrive_in_order_behind_a_failing_head(
    db: Database, receiver: Receiver
) -> None:
    reg = await registry(db)
    hook = await WebhookStore(db).create(reg.id, "ordered", receiver.url, ("push",), "", {}, True)
    assert hook is not None
    for n in (1, 2, 3):
        await reg.push(image(n), f"v{n}")
    receiver.statuses = [500]
    sender = deliverer(db)
    await sender.deliver_due()
    await anyio.sleep(2.1)
    await sender.deliver_due()
    tags = [payload["target"]["tag"] for _, payload in receiver.received]
    assert tags == ["v1", "v1", "v2", "v3"]


async def test_a_client_error_fails_at_once_and_the_window_ends_retries(
    db: Database, receiver: Receiver
) -> None:
    reg = await registry(db)
    hooks, events = WebhookStore(db), WebhookEventStore(db)
    hook = await hooks.create(reg.id, "strict", receiver.url, ("push",), "", {}, True)
    assert hook is not None
    await reg.push(image(1), "v1")
    receiver.statuses = [404]
    await deliverer(db).deliver_due()
    [event] = await events.list(hook.id)
    assert (event.state, event.last_status) == ("failed", 404)

    await events.redeliver(hook.id, event.id)
    receiver.statuses = [500]
    await deliverer(db, retry_window=timedelta(0)).deliver_due()
    [event] = await events.list(hook.id)
    assert (event.state, event.last_status) == ("failed", 500)


async def test_private_targets_are_refused_at_delivery_unless_allowed(
    db: Database, receiver: Receiver
) -> None:
    reg = await registry(db)
    hooks, events = WebhookStore(db), WebhookEventStore(db)
    hook = await hooks.create(reg.id, "inside", receiver.url, ("push",), "", {}, True)
    assert hook is not None
    await reg.push(image(1), "v1")
    await deliverer(db, allow_private=False).deliver_due()
    [event] = await events.list(hook.id)
    assert event.state == "failed" and "private" in (event.last_error or "")
    assert receiver.received == []


def service(db: Database, allow_private: bool = True) -> WebhookService:
    return WebhookService(
        RegistryStore(db), WebhookStore(db), WebhookEventStore(db), allow_private=allow_private
    )


async def test_the_service_refuses_private_targets_without_the_setting(db: Database) -> None:
    await registry(db)
    strict = service(db, allow_private=False)
    spec = WebhookSpec(uri="http://127.0.0.1:9/hook", actions=["push"])
    with pytest.raises(TargetRefused):
        await strict.create("default", "loopback", spec)
    with pytest.raises(TargetRefused):
        await strict.create(
            "default", "linklocal", WebhookSpec("http://169.254.169.254/", ["push"])
        )
    with pytest.raises(TargetRefused):
        await strict.create("default", "localname", WebhookSpec("http://localhost/", ["push"]))
    assert await service(db).create("default", "loopback", spec)


async def test_the_service_validates_masks_and_counts(db: Database) -> None:
    await registry(db)
    hooks = service(db)
    await RegistryStore(db).update("default", {"sku": "Basic"})
    spec = WebhookSpec("http://127.0.0.1:9/", ["push", "delete"], "app:*", {"Authorization": "x"})
    created = await hooks.create("default", "first", spec)
    assert created.headers == {"Authorization": MASK} and created.actions == ("push", "delete")
    assert (await hooks.show("default", "first")).headers == {"Authorization": MASK}
    with pytest.raises(Conflict):
        await hooks.create("default", "first", spec)
    with pytest.raises(Invalid):
        await hooks.create("default", "bad", spec)  # too short a name
    with pytest.raises(Invalid):
        await hooks.create("default", "second", WebhookSpec("ftp://x/", ["push"]))
    with pytest.raises(Invalid):
        await hooks.create("default", "second", WebhookSpec("http://x/", ["pull"]))
    assert await hooks.create("default", "second", WebhookSpec("http://x/", ["push"]))
    with pytest.raises(QuotaReached):
        await hooks.create("default", "third", WebhookSpec("http://x/", ["push"]))
    updated = await hooks.update("default", "second", WebhookSpec(enabled=False, scope="app"))
    assert (updated.enabled, updated.scope) == (False, "app")
    event_id = await hooks.ping("default", "second")
    [ping] = await hooks.events("default", "second")
    assert ping.id == event_id and ping.action == "ping"
    assert (await hooks.redeliver("default", "second", event_id)).id == event_id
    await hooks.delete("default", "second")
    assert [h.name for h in await hooks.list("default")] == ["first"]


@pytest.mark.parametrize(
    "name", ["Host", "content-length", "Transfer-Encoding", "Content-Type", "x-portside-event-id"]
)
async def test_headers_portside_sets_cannot_be_custom(db: Database, name: str) -> None:
    await registry(db)
    hooks = service(db)
    with pytest.raises(Invalid, match="cannot be overridden"):
        await hooks.create("default", "framed", WebhookSpec("http://x/", ["push"], "", {name: "1"}))
    await hooks.create("default", "framed", WebhookSpec("http://x/", ["push"]))
    with pytest.raises(Invalid, match="cannot be overridden"):
        await hooks.update("default", "framed", WebhookSpec(headers={name: "1"}))
