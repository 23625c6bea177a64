"""Helm charts pushed as OCI artifacts raise `chart_push` and `chart_delete` beside `push` and
`delete`, with ACR's chart payload (`name` and `version` from the chart's config blob); an
ordinary image raises neither, and a chart whose config cannot be read is named by its
repository and tag without failing the push."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.database import Database
from portside.metadata.registries import RegistryStore
from portside.metadata.webhook_events import EventRecord, WebhookEventStore
from portside.metadata.webhooks import WebhookStore
from portside.oci.charts import chart_from_config, chart_from_manifest
from tests.registry_client import descriptor, push_blob, push_image

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def push_chart(
    client: TestClient,
    repo: str,
    tag: str,
    config: bytes,
    *,
    upload_config: bool = True,
) -> tuple[str, bytes]:
    """Push a Helm chart as `helm push` lays it out; (manifest digest, manifest body)."""
    layer = f"chart archive of {repo}:{tag}".encode()
    push_blob(client, repo, layer)
    if upload_config:
        push_blob(client, repo, config)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(HELM_CONFIG, config),
            "layers": [descriptor(HELM_LAYER, layer)],
            "annotations": {
                "org.opencontainers.image.title": "annotated",
                "org.opencontainers.image.version": "9.9.9",
            },
        }
    ).encode()
    response = client.put(
        f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"], body


def add_hooks(settings: Settings, hooks: dict[str, tuple[Sequence[str], str]]) -> dict[str, int]:
    """Create enabled webhooks (name: (actions, scope)) on the default registry; their ids."""

    async def add() -> dict[str, int]:
        db = Database(settings.resolved_database_url())
        try:
            registry = await RegistryStore(db).get(settings.default_registry)
            assert registry is not None
            ids = {}
            for name, (actions, scope) in hooks.items():
                hook = await WebhookStore(db).create(
                    registry.id, name, "http://receiver.invalid/", actions, scope, {}, True
                )
                assert hook is not None
                ids[name] = hook.id
            return ids
        finally:
            await db.close()

    return asyncio.run(add())


def events(settings: Settings, hook_id: int) -> list[EventRecord]:
    """A webhook's events, oldest first."""

    async def read() -> list[EventRecord]:
        db = Database(settings.resolved_database_url())
        try:
            return list(reversed(await WebhookEventStore(db).list(hook_id)))
        finally:
            await db.close()

    return asyncio.run(read())


@pytest.fixture
def quiet(settings: Settings) -> Settings:
    """Settings whose server delivers nothing (the outbox is read directly)."""
    return settings.model_copy(update={"webhook_poll_seconds": 0})


@pytest.fixture
def client(quiet: Settings) -> Iterator[TestClient]:
    """A client of an app on `quiet` settings."""
    with TestClient(create_app(quiet), base_url="http://localhost") as test_client:
        yield test_client


def test_a_chart_push_raises_chart_push_beside_push(quiet: Settings, client: TestClient) -> None:
    ids = add_hooks(
        quiet,
        {
            "charts": (("chart_push", "chart_delete"), ""),
            "images": (("push",), ""),
            "scoped": (("chart_push",), "other:*"),
        },
    )
    client.headers["X-Request-Id"] = "req-7"
    config = json.dumps({"name": "wordpress", "version": "5.4.0", "apiVersion": "v2"}).encode()
    digest, body = push_chart(client, "charts/wordpress", "5.4.0", config)
    push_image(client, "charts/wordpress", "not-a-chart")

    [chart] = events(quiet, ids["charts"])
    assert chart.action == "chart_push" and chart.payload["action"] == "chart_push"
    assert chart.payload["target"] == {
        "mediaType": OCI_MANIFEST,
        "size": len(body),
        "digest": digest,
        "repository": "charts/wordpress",
        "tag": "5.4.0",
        "name": "wordpress",
        "version": "5.4.0",
    }
    assert chart.payload["request"]["id"] == "req-7"
    pushes = events(quiet, ids["images"])
    assert [(e.action, e.payload["target"]["tag"]) for e in pushes] == [
        ("push", "5.4.0"),
        ("push", "not-a-chart"),
    ]
    assert "name" not in pushes[0].payload["target"]  # a push event stays an image's
    assert events(quiet, ids["scoped"]) == []


def test_a_chart_without_a_readable_config_is_named_by_repository_and_tag(
    quiet: Settings, client: TestClient
) -> None:
    ids = add_hooks(quiet, {"charts": (("chart_push",), "")})
    push_chart(client, "team/redis", "1.2.3", b"not json at all")
    [chart] = events(quiet, ids["charts"])
    assert (chart.payload["target"]["name"], chart.payload["target"]["version"]) == (
        "redis",
        "1.2.3",
    )


def test_a_chart_pushed_by_digest_raises_no_chart_push(quiet: Settings, client: TestClient) -> None:
    ids = add_hooks(quiet, {"charts": (("chart_push",), "")})
    config = json.dumps({"name": "nginx", "version": "1.0.0"}).encode()
    digest, body = push_chart(client, "nginx", "1.0.0", config)
    response = client.put(
        f"/v2/nginx/manifests/{digest}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201
    assert [e.action for e in events(quiet, ids["charts"])] == ["chart_push"]


def test_deleting_a_chart_raises_chart_delete_beside_delete(
    quiet: Settings, client: TestClient
) -> None:
    ids = add_hooks(
        quiet,
        {
            "charts": (("chart_delete",), ""),
            "all": (("delete",), ""),
            "tag": (("chart_delete",), "app:v2"),
        },
    )
    config = json.dumps({"name": "app", "version": "2.0.0"}).encode()
    digest, _ = push_chart(client, "app", "v2", config)
    other, _ = push_chart(client, "app", "v3", config)
    image, _ = push_image(client, "app", "image")
    assert client.delete("/acr/v1/app/_tags/v3").status_code == 202
    assert client.delete(f"/v2/app/manifests/{digest}").status_code == 202
    assert client.delete(f"/v2/app/manifests/{image}").status_code == 202

    by_tag, by_digest = events(quiet, ids["charts"])
    assert by_tag.payload["action"] == "chart_delete"
    # A deletion reads no blob: the chart is named by Helm's manifest annotations.
    assert by_tag.payload["target"]["tag"] == "v3"
    assert (by_tag.payload["target"]["name"], by_tag.payload["target"]["version"]) == (
        "annotated",
        "9.9.9",
    )
    assert by_tag.payload["target"]["digest"] == other
    assert by_digest.payload["target"]["digest"] == digest
    assert "tag" not in by_digest.payload["target"]
    assert [e.action for e in events(quiet, ids["all"])] == ["delete"] * 3
    # A deletion by digest matches a tag scope when the manifest carried that tag.
    assert [e.payload["target"]["digest"] for e in events(quiet, ids["tag"])] == [digest]


def test_deleting_a_repository_raises_chart_delete_for_its_charts(
    quiet: Settings, client: TestClient
) -> None:
    ids = add_hooks(quiet, {"charts": (("chart_delete",), "")})
    config = json.dumps({"name": "db", "version": "0.1.0"}).encode()
    digest, _ = push_chart(client, "db", "0.1.0", config)
    push_image(client, "db", "image")
    assert client.delete("/acr/v1/db").status_code == 202
    [deleted] = events(quiet, ids["charts"])
    assert deleted.payload["target"]["digest"] == digest


def test_chart_names_fall_back_without_failing() -> None:
    assert chart_from_config(b'{"name": "a", "version": "1"}', "x/y", "t").name == "a"
    assert chart_from_config(b"\xff\xfe", "x/y", "t") == chart_from_config(None, "x/y", "t")
    assert (chart_from_config(b"[1, 2]", "x/y", "t").name, "t") == ("y", "t")
    assert chart_from_config(b" " * (64 * 1024 + 1), "x/y", "t").name == "y"
    assert chart_from_manifest(b'{"config": {"mediaType": "x"}}', "r", "t") is None
    assert chart_from_manifest(b"not json", "r", "t") is None
    plain = json.dumps({"config": {"mediaType": HELM_CONFIG}}).encode()
    assert chart_from_manifest(plain, "a/b", None) is not None
