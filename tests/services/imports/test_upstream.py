"""The upstream client against scripted registries (httpx MockTransport): token and Basic
auth, Retry-After, digest verification of manifests and streamed blobs, redirects that drop
credentials, and the address policy."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

import httpx
import pytest

from portside.oci import media_types as mt
from portside.oci.digests import Digest
from portside.services.imports.errors import (
    UpstreamDigestMismatch,
    UpstreamInvalid,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRefused,
    UpstreamUnauthorized,
)
from portside.services.imports.upstream import (
    UpstreamClient,
    UpstreamCredentials,
    UpstreamPolicy,
    split_upstream,
)

pytestmark = pytest.mark.anyio

OPEN = UpstreamPolicy(allow_private=True)
CONFIG = b'{"architecture":"amd64","os":"linux"}'
LAYER = b"layer bytes " * 1000
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": str(Digest.of(CONFIG)),
            "size": len(CONFIG),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": str(Digest.of(LAYER)),
                "size": len(LAYER),
            }
        ],
    }
).encode()


def client(handler: Callable[[httpx.Request], httpx.Response], **kwargs: object) -> UpstreamClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return UpstreamClient("127.0.0.1:5999", OPEN, http=http, **kwargs)  # type: ignore[arg-type]


async def test_token_auth_with_basic_credentials_at_the_realm() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.path} {request.headers.get('authorization', '-')}")
        if request.url.path == "/token":
            assert request.url.params["scope"] == "repository:a/b/c:pull"
            assert request.url.params["service"] == "up"
            expected = "Basic " + base64.b64encode(b"u:p").decode()
            if request.headers.get("authorization") != expected:
                return httpx.Response(401)
            return httpx.Response(200, json={"token": "T"})
        if request.headers.get("authorization") != "Bearer T":
            challenge = 'Bearer realm="http://127.0.0.1:5999/token",service="up",scope="x"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(200, content=MANIFEST, headers={"Content-Type": mt.OCI_MANIFEST})

    async with client(handler, credentials=UpstreamCredentials("u", "p")) as up:
        fetched = await up.get_manifest("a/b/c", "v1")
        again = await up.get_manifest("a/b/c", str(fetched.digest))
    assert fetched.digest == Digest.of(MANIFEST) == again.digest
    assert fetched.parsed.config is not None
    # One challenge, one token, then the cached token serves the second request.
    assert [s.split(" ")[0] for s in seen] == [
        "/v2/a/b/c/manifests/v1",
        "/token",
        "/v2/a/b/c/manifests/v1",
        f"/v2/a/b/c/manifests/{fetched.digest}",
    ]


async def test_refused_credentials_are_unauthorized() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(401)
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer realm="http://127.0.0.1:5999/token"'}
        )

    async with client(handler) as up:
        with pytest.raises(UpstreamUnauthorized, match=r"127\.0\.0\.1:5999"):
            await up.get_manifest("a", "v1")


async def test_basic_challenge_sends_credentials_on_every_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return httpx.Response(200, content=MANIFEST, headers={"Content-Type": mt.OCI_MANIFEST})

    async with client(handler, credentials=UpstreamCredentials("u", "p")) as up:
        assert (await up.get_manifest("a", "v1")).media_type == mt.OCI_MANIFEST


async def test_retry_after_is_honoured_then_given_up() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            return httpx.Response(429, headers={"Retry-After": "0"})
        return httpx.Response(200, content=MANIFEST, headers={"Content-Type": mt.OCI_MANIFEST})

    async with client(handler) as up:
        await up.get_manifest("a", "v1")
    assert calls == 3

    def always(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "0"})

    async with client(always, retries=2) as up:
        with pytest.raises(UpstreamRateLimited):
            await up.get_manifest("a", "v1")

    def too_long(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "3600"})

    async with client(too_long) as up:
        with pytest.raises(UpstreamRateLimited) as caught:
            await up.get_manifest("a", "v1")
    assert caught.value.retry_after == 3600


async def test_manifest_digest_is_verified() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": str(Digest.of(b"x"))}
        return httpx.Response(200, content=MANIFEST, headers=headers)

    async with client(handler) as up:
        with pytest.raises(UpstreamDigestMismatch):
            await up.get_manifest("a", "v1")
        with pytest.raises(UpstreamDigestMismatch):
            await up.get_manifest("a", str(Digest.of(b"other")))


async def test_blob_streams_verified_and_follows_redirects_without_credentials() -> None:
    digest = Digest.of(LAYER)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.2":
            assert "authorization" not in request.headers
            return httpx.Response(200, content=LAYER)
        if "authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return httpx.Response(307, headers={"Location": "http://127.0.0.2:9000/bucket/blob?sig=1"})

    up = client(handler, credentials=UpstreamCredentials("u", "p"))
    async with up, up.blob("a", digest, len(LAYER)) as chunks:
        data = b"".join([chunk async for chunk in chunks])
    assert hashlib.sha256(data).hexdigest() == digest.hex


async def test_blob_with_wrong_bytes_fails_at_the_end() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"y" * len(LAYER))

    async with client(handler) as up:
        with pytest.raises(UpstreamDigestMismatch):
            async with up.blob("a", Digest.of(LAYER), len(LAYER)) as chunks:
                async for _ in chunks:
                    pass
        with pytest.raises(UpstreamInvalid, match="bytes"):
            async with up.blob("a", Digest.of(LAYER), 10) as chunks:
                async for _ in chunks:
                    pass


async def test_referrers_fall_back_to_the_tag_schema() -> None:
    subject = Digest.of(MANIFEST)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [
                {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.of(b"sig")), "size": 3}
            ],
        }
    ).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/v2/a/manifests/sha256-{subject.hex}":
            return httpx.Response(200, content=index, headers={"Content-Type": mt.OCI_INDEX})
        return httpx.Response(404)

    async with client(handler) as up:
        found = await up.referrers("a", subject)
        assert [d.digest for d in found] == [Digest.of(b"sig")]
        assert await up.referrers("a", Digest.of(b"nothing")) == ()
        with pytest.raises(UpstreamNotFound):
            await up.get_manifest("a", "missing")


async def test_address_policy() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with UpstreamClient("127.0.0.1:5999", UpstreamPolicy(), http=http) as up:
        with pytest.raises(UpstreamRefused, match="allow_private_network_targets"):
            await up.get_manifest("a", "v1")
    policy = UpstreamPolicy(insecure=frozenset({"registry.example:5000"}))
    assert policy.scheme("127.0.0.1", 5000) == "http"
    assert policy.scheme("localhost", None) == "http"
    assert policy.scheme("registry.example", 5000) == "http"
    assert policy.scheme("registry.example", None) == "https"
    with pytest.raises(UpstreamRefused):
        policy.check_scheme("up", "http://other.example/token")
    assert split_upstream("[::1]:5000") == ("::1", 5000)
    for bad in ("http://x", "x/y", "u@x", ""):
        with pytest.raises(UpstreamRefused):
            split_upstream(bad)
