"""The webhook outbox on every metadata backend: events written with the change they report
(and only then), scope and action matching, ACR's payload shape, the quota, redelivery."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portside.metadata.artifacts import ArtifactStore
from portside.metadata.database import Database
from portside.metadata.errors import LockViolation, QuotaViolation
from portside.metadata.manifests import ManifestStore
from portside.metadata.registries import RegistryStore
from portside.metadata.tags import TagStore
from portside.metadata.webhook_events import Attempt, WebhookEventStore
from portside.metadata.webhooks import EventContext, WebhookStore, scope_matches
from tests.metadata.lifecycle_data import image, registry

pytestmark = pytest.mark.anyio

CONTEXT = EventContext("req-1", "reg.example", "PUT", "docker/27", "alice")


@pytest.mark.parametrize(
    ("scope", "repository", "tags", "expected"),
    [
        ("", "app", (), True),
        ("", "other", ("v1",), True),
        ("app:*", "app", (), True),
        ("app:*", "app", ("v1",), True),
        ("app:*", "other", ("v1",), False),
        ("app:v1", "app", ("v1",), True),
        ("app:v1", "app", ("v2",), False),
        ("app:v1", "app", (), False),
        ("app", "app", ("latest",), True),
        ("app", "app", ("v1",), False),
        ("app:v1", "app", ("v2", "v1"), True),
        ("team/app:*", "team/app", ("x",), True),
    ],
)
def test_scope_matching_as_acr(
    scope: str, repository: str, tags: tuple[str, ...], expected: bool
) -> None:
    assert scope_matches(scope, repository, tags) is expected


async def test_a_push_writes_its_event_in_its_transaction(db: Database) -> None:
    reg = await registry(db)
    hooks, events = WebhookStore(db), WebhookEventStore(db)
    one = image(1)
    await reg.push(one, "v0")  # before any webhook: nothing to write
    hook = await hooks.create(reg.id, "deploy", "http://x/", ("push",), "app:*", {}, True)
    assert hook is not None and await events.list(hook.id) == []

    await ManifestStore(db).put(reg.id, "app", one, "v1", CONTEXT)
    [event] = await events.list(hook.id)
    assert event.state == "pending" and event.action == "push"
    payload = event.payload
    assert payload["id"] == event.id and payload["action"] == "push"
    assert payload["timestamp"].endswith("Z")
    assert payload["target"] == {
        "mediaType": one.media_type,
        "size": len(one.body),
        "digest": one.digest,
        "length": len(one.body),
        "repository": "app",
        "tag": "v1",
    }
    assert payload["request"] == {
        "id": "req-1",
        "host": "reg.example",
        "method": "PUT",
        "useragent": "docker/27",
    }
    assert payload["actor"] == {"name": "alice"}


async def test_a_refused_change_writes_no_event(db: Database) -> None:
    reg = await registry(db)
    hooks, events = WebhookStore(db), WebhookEventStore(db)
    hook = await hooks.create(reg.id, "all", "http://x/", ("push", "delete"), "", {}, True)
    assert hook is not None
    one = image(1)
    await reg.push(one, "v1")
    await TagStore(db).delete(reg.id, "app", "v1")
    before = len(await events.list(hook.id))
    # A layer never uploaded: the push is refused and writes nothing.
    missing = replace(image(9), blobs=("sha256:" + "0" * 64,))
    assert await ManifestStore(db).put(reg.id, "app", missing, "v9") != []
    assert len(await events.list(hook.id)) == before


async def test_actions_scope_and_status_select_the_webhooks(db: Database) -> None:
    reg = await registry(db)
    hooks, events = WebhookStore(db), WebhookEventStore(db)
    pushes = await hooks.create(reg.id, "pushes", "http://x/", ("push",), "", {}, True)
    deletes = await hooks.create(reg.id, "deletes", "http://x/", ("delete",), "app:v1", {}, True)
    off = await hooks.create(reg.id, "off", "http://x/", ("push", "delete"), "", {}, False)
    assert pushes and deletes and off
    one, two = image(1), image(2)
    await reg.push(one, "v1")
    await reg.push(two)  # by digest: no tag
    await TagStore(db).delete(reg.id, "app", "v1")
    await ManifestStore(db).delete(reg.id, "app", two.digest)

    assert [e.payload["target"].get("tag") for e in await events.list(pushes.id)] == [None, "v1"]
    [deleted] = await events.list(deletes.id)
    assert deleted.payload["target"]["tag"] == "v1" and deleted.payload["actor"] == {}
    assert await events.list(off.id) == []


async def test_a_digest_delete_matches_scopes_by_the_tags_it_took(db: Database) -> None:
    reg = await registry(db)
    hooks, events = WebhookStore(db), WebhookEventStore(db)
    hook = await hooks.create(reg.id, "d", "http://x/", ("delete",), "app:v1", {}, True)
    assert hook is not None
    one = image(1)
    await reg.push(one, "v1")
    assert await ManifestStore(db).delete(reg.id, "app", one.digest, CONTEXT)
    [event] = await events.list(hook.id)
    assert event.payload["target"]["digest"] == one.digest
    assert "tag" not in event.payload["target"]  # ACR names no tag for a manifest delete


async def test_a_locked_delete_writes_no_event(db: Database) -> None:
    reg = await registry(db)
    hooks, events = WebhookStore(db), WebhookEventStore(db)
    hook = await hooks.create(reg.id, "d", "http://x/", ("delete",), "", {}, True)
    assert hook is not None
    one = image(1)
    await reg.push(one, "v1")
    await ArtifactStore(db).update_tag(reg.id, "app", "v1", {"delete_enabled": False})
    with pytest.raises(LockViolation):
        await TagStore(db).delete(reg.id, "app", "v1")
    assert await events.list(hook.id) == []


async def test_the_webhook_quota_is_the_skus(db: Database) -> None:
    reg = await registry(db)
    hooks = WebhookStore(db)
    await RegistryStore(db).update("default", {"sku": "Basic"})
    assert await hooks.create(reg.id, "h0", "http://x/", ("push",), "", {}, True)
    assert await hooks.create(reg.id, "h0", "http://x/", ("push",), "", {}, True) is None
    assert await hooks.create(reg.id, "h1", "http://x/", ("push",), "", {}, True)
    with pytest.raises(QuotaViolation):
        await hooks.create(reg.id, "h2", "http://x/", ("push",), "", {}, True)
    assert await hooks.delete(reg.id, "h0")
    assert await hooks.create(reg.id, "h2", "http://x/", ("push",), "", {}, True)


async def test_due_events_go_in_order_per_webhook_and_redeliver_keeps_the_id(
    db: Database,
) -> None:
    reg = await registry(db)
    hooks, events = WebhookStore(db), WebhookEventStore(db)
    hook = await hooks.create(reg.id, "h", "http://x/", ("push",), "", {"K": "V"}, True)
    assert hook is not None
    await reg.push(image(1), "a")
    await reg.push(image(2), "b")
    [head] = await events.due(10)
    assert head.headers == {"K": "V"}
    first = head.id
    await events.record(head.seq, Attempt(True, 200, "ok", None, 3), None)
    [head] = await events.due(10)
    assert head.id != first
    await events.record(head.seq, Attempt(False, 500, "no", None, 3), None)  # failed
    assert await events.due(10) == []
    assert await events.redeliver(hook.id, head.id)
    [again] = await events.due(10)
    assert again.id == head.id
    shown = await events.get(hook.id, head.id)
    assert shown is not None and shown.state == "pending" and shown.last_status == 500


async def test_deleting_a_repository_reports_each_manifest(db: Database) -> None:
    reg = await registry(db)
    hooks, events = WebhookStore(db), WebhookEventStore(db)
    hook = await hooks.create(reg.id, "gone", "http://x/", ("delete",), "app:v1", {}, True)
    assert hook is not None
    one, two = image(1), image(2)
    await reg.push(one, "v1")
    await reg.push(two, "v2")
    assert await ArtifactStore(db).delete_repository(reg.id, "app", CONTEXT) is not None
    # Only the manifest tagged v1 matches the scope.
    [event] = await events.list(hook.id)
    assert event.payload["target"]["digest"] == one.digest
    assert event.payload["request"]["id"] == "req-1"
