"""Pull-through over /v2 (in-process Portside) from a real upstream: the reference registry
(Debian `docker-registry`) on loopback, whose access log counts what Portside asked of it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.api.errors import ERROR_TABLE
from portside.config import Settings
from portside.metadata.cache_rules import CacheRuleRecord
from portside.runtime import Runtime
from portside.services.imports.cache import _failure
from portside.services.imports.cache_errors import CacheUpstreamBusy
from portside.services.imports.cache_rules import CacheRuleSpec, match_rule
from portside.services.imports.errors import UpstreamDigestMismatch, UpstreamRateLimited
from tests.e2e.upstream import Upstream, reference_upstream
from tests.registry_client import (
    OCI_MANIFEST,
    digest_of,
    error_code,
    push_image,
)

_NOW = datetime(2026, 12, 6, tzinfo=UTC)


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Upstream]:
    """A fresh reference registry."""
    with reference_upstream(tmp_path / "upstream") as started:
        yield started


@pytest.fixture
def portside(settings: Settings) -> Iterator[TestClient]:
    """Portside in this process, allowed to reach loopback upstreams."""
    allowed = settings.model_copy(update={"allow_private_network_targets": True})
    with TestClient(create_app(allowed), base_url="http://localhost") as client:
        yield client


def add_rule(client: TestClient, upstream: Upstream, **spec: object) -> None:
    """A rule serving `hub/*` from the upstream's `library/*`."""
    runtime = client.app.state.portside  # type: ignore[attr-defined]
    assert isinstance(runtime, Runtime) and client.portal is not None
    values = {"source_repo": f"{upstream.registry.host}/library/*", "target_repo": "hub/*"}
    client.portal.call(
        runtime.cache_rules.create, "default", "hub-rule", CacheRuleSpec(**{**values, **spec})
    )


def test_a_pull_is_fetched_once_stored_and_served_when_the_upstream_is_gone(
    portside: TestClient, upstream: Upstream
) -> None:
    layers = [os.urandom(300_000), b"second layer"]
    digest, body = upstream.push_image("library/app", "v1", layers)
    add_rule(portside, upstream)

    pulled = portside.get("/v2/hub/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert pulled.status_code == 200, pulled.text
    assert pulled.content == body and pulled.headers["Docker-Content-Digest"] == digest
    for layer in layers:
        blob_digest = digest_of(layer)
        got = portside.get(f"/v2/hub/app/blobs/{blob_digest}")
        assert got.status_code == 200 and got.content == layer  # byte-identical
        assert got.headers["Content-Length"] == str(len(layer))
        again = portside.get(f"/v2/hub/app/blobs/{blob_digest}")
        assert again.content == layer
        assert upstream.requests("GET", f"blobs/{blob_digest}") == 1
    head = portside.head(f"/v2/hub/app/manifests/{digest}")
    assert head.status_code == 200 and head.headers["Docker-Content-Digest"] == digest
    assert "hub/app" in portside.get("/v2/_catalog").json()["repositories"]

    upstream.server.stop()
    assert portside.get("/v2/hub/app/manifests/v1").content == body
    missing = portside.get("/v2/hub/app/manifests/v2")
    assert missing.status_code == 404 and error_code(missing) == "MANIFEST_UNKNOWN"
    message = missing.json()["errors"][0]["message"]
    assert "hub-rule" in message and upstream.registry.host in message
    assert missing.json()["errors"][0]["detail"]["upstream"].endswith("/library/app")


def test_what_the_upstream_lacks_is_unknown_naming_the_rule(
    portside: TestClient, upstream: Upstream
) -> None:
    add_rule(portside, upstream)
    missing = portside.get("/v2/hub/nothing/manifests/latest")
    assert missing.status_code == 404 and error_code(missing) == "MANIFEST_UNKNOWN"
    assert "hub-rule" in missing.json()["errors"][0]["message"]
    blob = portside.get("/v2/hub/nothing/blobs/sha256:" + "0" * 64)
    assert blob.status_code == 404 and error_code(blob) == "BLOB_UNKNOWN"
    outside = portside.get("/v2/elsewhere/manifests/latest")
    assert outside.status_code == 404 and error_code(outside) == "NAME_UNKNOWN"


def test_a_tag_is_rechecked_after_the_ttl_and_refetched_when_it_moved(
    portside: TestClient, upstream: Upstream
) -> None:
    first, _ = upstream.push_image("library/app", "v1")
    add_rule(portside, upstream, ttl_seconds=0)
    assert portside.get("/v2/hub/app/manifests/v1").headers["Docker-Content-Digest"] == first
    assert portside.get("/v2/hub/app/manifests/v1").headers["Docker-Content-Digest"] == first
    # The second pull spent a HEAD, not a GET.
    assert upstream.requests("HEAD", "manifests/v1") == 1
    assert upstream.requests("GET", "manifests/v1") == 1

    moved, body = upstream.push_image("library/app", "v1", [b"new layer"])
    assert moved != first
    pulled = portside.get("/v2/hub/app/manifests/v1")
    assert pulled.headers["Docker-Content-Digest"] == moved and pulled.content == body

    # A tag deleted here is fetched again on the next pull.
    assert portside.delete("/v2/hub/app/manifests/v1").status_code == 202
    assert portside.get("/v2/hub/app/manifests/v1").headers["Docker-Content-Digest"] == moved

    # Its check failing, the cached tag is served as it is.
    upstream.server.stop()
    kept = portside.get("/v2/hub/app/manifests/v1")
    assert kept.status_code == 200 and kept.headers["Docker-Content-Digest"] == moved


def test_a_tag_within_its_ttl_is_not_rechecked(portside: TestClient, upstream: Upstream) -> None:
    first, _ = upstream.push_image("library/app", "v1")
    add_rule(portside, upstream, ttl_seconds=3600)
    assert portside.get("/v2/hub/app/manifests/v1").headers["Docker-Content-Digest"] == first
    upstream.push_image("library/app", "v1", [b"new layer"])
    assert portside.get("/v2/hub/app/manifests/v1").headers["Docker-Content-Digest"] == first
    assert upstream.requests("HEAD", "manifests/v1") == 0


def test_pushes_under_a_rule_are_refused_unless_it_allows_them(
    portside: TestClient, upstream: Upstream
) -> None:
    add_rule(portside, upstream)
    refused = portside.post("/v2/hub/app/blobs/uploads/")
    assert refused.status_code == 403 and error_code(refused) == "DENIED"
    assert "hub-rule" in refused.json()["errors"][0]["message"]
    manifest = portside.put(
        "/v2/hub/app/manifests/v1", content=b"{}", headers={"Content-Type": OCI_MANIFEST}
    )
    assert manifest.status_code == 403 and error_code(manifest) == "DENIED"
    # Elsewhere in the registry pushes go on as ever.
    push_image(portside, "mine/app", "v1")

    runtime = portside.app.state.portside  # type: ignore[attr-defined]
    assert portside.portal is not None
    portside.portal.call(
        runtime.cache_rules.update, "default", "hub-rule", CacheRuleSpec(allow_push=True)
    )
    push_image(portside, "hub/pushed", "v1")
    # A pushed tag has no upstream check: it is served as pushed.
    assert portside.get("/v2/hub/pushed/manifests/v1").status_code == 200


def test_cached_content_fires_push_webhooks(settings: Settings, upstream: Upstream) -> None:
    quiet = settings.model_copy(
        update={"allow_private_network_targets": True, "webhook_poll_seconds": 0}
    )
    digest, _ = upstream.push_image("library/app", "v1")
    with TestClient(create_app(quiet), base_url="http://localhost") as client:
        add_rule(client, upstream)
        runtime = client.app.state.portside  # type: ignore[attr-defined]
        assert client.portal is not None
        registry = client.portal.call(runtime.stores.registries.get, "default")
        hook = client.portal.call(
            runtime.stores.webhooks.create,
            registry.id, "deploy", "http://receiver.invalid/", ("push",), "", {}, True,
        )  # fmt: skip
        assert client.get("/v2/hub/app/manifests/v1").status_code == 200
        events = client.portal.call(runtime.stores.webhook_events.list, hook.id)
    assert [e.payload["target"]["repository"] for e in events] == ["hub/app"]
    assert events[0].payload["target"]["digest"] == digest
    assert events[0].payload["target"]["tag"] == "v1"


def test_an_upstream_rate_limit_is_a_429_naming_the_rule() -> None:
    rule = CacheRuleRecord(
        1, 1, "default", "hub-rule", "ghcr.io/org/*", "org/*", None, 60, False, _NOW, _NOW
    )
    found = match_rule([rule], "org/app")
    assert found is not None
    error = _failure(found, "manifest v1", UpstreamRateLimited("ghcr.io", "slow down", 42.0))
    assert isinstance(error, CacheUpstreamBusy) and error.retry_after == 42.0
    assert "hub-rule" in error.message and "ghcr.io/org/app" in error.message
    assert ERROR_TABLE[CacheUpstreamBusy] == (429, "TOOMANYREQUESTS")


def test_bytes_that_do_not_match_their_digest_are_cut_off_and_never_stored(
    portside: TestClient, upstream: Upstream
) -> None:
    layer = os.urandom(3 << 20)
    upstream.push_image("library/app", "v1", [layer])
    add_rule(portside, upstream)
    digest = digest_of(layer)
    hex_ = digest.split(":")[1]
    stored = upstream.registry.data_dir / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_
    (stored / "data").write_bytes(os.urandom(len(layer)))  # the upstream now serves other bytes

    # The headers went out before the last byte: the stream breaks off instead of ending.
    with pytest.raises(UpstreamDigestMismatch):
        portside.get(f"/v2/hub/app/blobs/{digest}")
    head = portside.head(f"/v2/hub/app/blobs/{digest}")  # fetches again: nothing was stored
    assert head.status_code == 404
    assert upstream.requests("GET", f"blobs/{digest}") == 2
