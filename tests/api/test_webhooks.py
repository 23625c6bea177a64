"""Webhooks over HTTP: a push and a delete through /v2 write their events with the request's
details; the management routes create, show (masked), ping, list events, redeliver, enforce the
quota and refuse private targets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.database import Database
from portside.metadata.registries import RegistryStore
from portside.metadata.webhook_events import EventRecord, WebhookEventStore
from portside.metadata.webhooks import WebhookStore
from portside.runtime import Runtime
from tests.api.test_metrics import scrape, value
from tests.management_harness import API, Harness, management_harness
from tests.registry_client import push_image
from tests.webhook_receiver import serving

T = TypeVar("T")


def on_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` over the settings' database (outside the app's event loop)."""

    async def run() -> T:
        db = Database(settings.resolved_database_url())
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(run())


def test_a_push_and_a_delete_over_v2_write_their_events(settings: Settings) -> None:
    quiet = settings.model_copy(update={"webhook_poll_seconds": 0})

    with TestClient(create_app(quiet), base_url="http://localhost") as client:
        hook_id = add_hook(quiet, "http://receiver.invalid/")
        client.headers["X-Request-Id"] = "req-42"
        digest, body = push_image(client, "app", "v1")
        assert client.delete(f"/v2/app/manifests/{digest}").status_code == 202

    async def events(db: Database) -> list[EventRecord]:
        return await WebhookEventStore(db).list(hook_id)

    deleted, pushed = on_database(quiet, events)
    assert pushed.payload["action"] == "push" and deleted.payload["action"] == "delete"
    assert pushed.payload["target"]["tag"] == "v1"
    assert pushed.payload["target"]["digest"] == digest
    assert pushed.payload["target"]["size"] == len(body)
    assert pushed.payload["request"] == {
        "id": "req-42",
        "host": "localhost",
        "method": "PUT",
        "useragent": "testclient",
    }
    assert deleted.payload["request"]["method"] == "DELETE"
    assert "tag" not in deleted.payload["target"]


def add_hook(settings: Settings, uri: str) -> int:
    """Create an enabled push-and-delete webhook for the default registry; its id."""

    async def add(db: Database) -> int:
        registry = await RegistryStore(db).get(settings.default_registry)
        assert registry is not None
        hook = await WebhookStore(db).create(
            registry.id, "deploy", uri, ("push", "delete"), "", {}, True
        )
        assert hook is not None
        return hook.id

    return on_database(settings, add)


def test_the_server_delivers_in_the_background(settings: Settings) -> None:
    fast = settings.model_copy(
        update={"webhook_poll_seconds": 0.05, "allow_private_network_targets": True}
    )
    with serving() as receiver, TestClient(create_app(fast), base_url="http://localhost") as client:
        add_hook(fast, receiver.url)
        push_image(client, "app", "v1")
        assert client.delete("/acr/v1/app/_tags/v1").status_code == 202
        deadline = time.monotonic() + 10
        while len(receiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    actions = [
        (p["action"], p["target"]["tag"], p["request"]["method"]) for _, p in receiver.received
    ]
    assert actions == [("push", "v1", "PUT"), ("delete", "v1", "DELETE")]


def test_events_written_before_a_stop_are_delivered_after_it(settings: Settings) -> None:
    stopped = settings.model_copy(update={"webhook_poll_seconds": 0})
    with serving() as receiver:
        with TestClient(create_app(stopped), base_url="http://localhost") as client:
            hook_id = add_hook(stopped, receiver.url)
            push_image(client, "app", "v1")
        assert receiver.received == []  # the server stopped before any delivery

        async def deliver_after_restart() -> list[EventRecord]:
            allowed = settings.model_copy(update={"allow_private_network_targets": True})
            async with Runtime(allowed) as runtime:
                await runtime.deliverer.deliver_due()
                return await runtime.stores.webhook_events.list(hook_id)

        [event] = asyncio.run(deliver_after_restart())
    assert event.state == "delivered" and receiver.ids() == [event.id]


@pytest.fixture
def mgmt(settings: Settings) -> Iterator[Harness]:
    """The management app; webhooks may target loopback (the receiver is never called)."""
    allowed = settings.model_copy(update={"allow_private_network_targets": True})
    with management_harness(allowed) as harness:
        yield harness


def hooks_url(name: str = "default") -> str:
    return f"{API}/registries/{name}/webhooks"


def create(mgmt: Harness, **body: Any) -> Any:
    return mgmt.client.post(hooks_url(), json=body, headers=mgmt.admin)


def test_webhook_routes(mgmt: Harness) -> None:
    made = create(
        mgmt,
        name="deploy01",
        serviceUri="http://127.0.0.1:9/hook",
        actions=["push", "delete"],
        scope="app:*",
        customHeaders={"Authorization": "Bearer s3cret"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "enabled" and made.json()["scope"] == "app:*"
    assert "s3cret" not in made.text
    one = f"{hooks_url()}/deploy01"
    config = mgmt.client.get(f"{one}/config", headers=mgmt.admin).json()
    assert config == {
        "serviceUri": "http://127.0.0.1:9/hook",
        "customHeaders": {"Authorization": "*****"},
    }
    listed = mgmt.client.get(hooks_url(), headers=mgmt.admin).json()
    assert [h["name"] for h in listed] == ["deploy01"]
    patched = mgmt.client.patch(one, json={"status": "disabled"}, headers=mgmt.admin)
    assert patched.json()["status"] == "disabled"

    ping = mgmt.client.post(f"{one}/ping", headers=mgmt.admin).json()
    [event] = mgmt.client.get(f"{one}/events", headers=mgmt.admin).json()
    assert event["id"] == ping["id"] and event["state"] == "pending"
    assert event["requestContent"]["action"] == "ping"
    again = mgmt.client.post(f"{one}/events/{ping['id']}/redeliver", headers=mgmt.admin)
    assert again.status_code == 200 and again.json()["id"] == ping["id"]
    unknown = mgmt.client.post(f"{one}/events/nope/redeliver", headers=mgmt.admin)
    assert unknown.status_code == 404

    assert (
        create(mgmt, name="deploy01", serviceUri="http://x/", actions=["push"]).status_code == 409
    )
    assert create(mgmt, name="bad", serviceUri="http://x/", actions=["push"]).status_code == 400
    assert mgmt.client.delete(one, headers=mgmt.admin).status_code == 204
    assert mgmt.client.get(one, headers=mgmt.admin).status_code == 404


def test_the_sku_quota_is_enforced(mgmt: Harness) -> None:
    basic = mgmt.client.patch(
        f"{API}/registries/default", json={"sku": "Basic"}, headers=mgmt.admin
    )
    assert basic.status_code == 200, basic.text
    for n in (1, 2):
        assert (
            create(mgmt, name=f"hook{n}x", serviceUri="http://x/", actions=["push"]).status_code
            == 201
        )
    refused = create(mgmt, name="hook3x", serviceUri="http://x/", actions=["push"])
    assert refused.status_code == 409 and "QuotaExceeded" in refused.text


def test_reserved_custom_headers_are_a_bad_request(mgmt: Harness) -> None:
    refused = create(
        mgmt,
        name="framed1",
        serviceUri="http://x/",
        actions=["push"],
        customHeaders={"Transfer-Encoding": "chunked"},
    )
    assert refused.status_code == 400 and "cannot be overridden" in refused.text
    assert create(mgmt, name="framed1", serviceUri="http://x/", actions=["push"]).status_code == 201
    patched = mgmt.client.patch(
        f"{hooks_url()}/framed1", json={"customHeaders": {"Host": "x"}}, headers=mgmt.admin
    )
    assert patched.status_code == 400 and "'Host'" in patched.text


def test_metrics_count_deliveries_and_show_the_queue(settings: Settings) -> None:
    fast = settings.model_copy(
        update={"webhook_poll_seconds": 0.05, "allow_private_network_targets": True}
    )
    with serving() as receiver, TestClient(create_app(fast), base_url="http://localhost") as client:
        before = scrape(client)
        receiver.statuses = [503]
        add_hook(fast, receiver.url)
        push_image(client, "app", "v1")
        receiver.wait_for(1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = scrape(client)
            # Waiting for its retry (5 s away): one event in the queue.
            if value(after, "portside_webhook_events_pending") == 1:
                break
            time.sleep(0.05)
    moved = {
        outcome: value(after, "portside_webhook_deliveries_total", outcome=outcome)
        - value(before, "portside_webhook_deliveries_total", outcome=outcome)
        for outcome in ("delivered", "retry", "failed")
    }
    assert moved == {"delivered": 0, "retry": 1, "failed": 0}


def test_private_targets_are_refused_by_default(settings: Settings) -> None:
    with management_harness(settings) as mgmt:
        refused = create(mgmt, name="inside1", serviceUri="http://127.0.0.1/", actions=["push"])
        assert refused.status_code == 400 and "private" in refused.text
