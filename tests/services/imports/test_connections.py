"""Upstream connections go to the addresses the policy checked (DNS rebinding): a name the
pre-check let through but that resolves to loopback when connecting is refused at the socket,
on every hop (registry, token realm, blob redirect); with private targets allowed the
connection reaches the resolved address, the name still in `Host`."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import anyio
import httpcore
import httpx
import pytest
import trustme
from anyio.abc import SocketStream
from anyio.streams.tls import TLSListener

from portside.oci.digests import Digest
from portside.services.imports.connections import (
    AddressRefused,
    PinnedBackend,
    PinnedTransport,
    Resolver,
    SocketOption,
)
from portside.services.imports.errors import UpstreamNotFound, UpstreamRefused
from portside.services.imports.upstream import UpstreamClient, UpstreamPolicy

pytestmark = pytest.mark.anyio

# `.invalid` never resolves (RFC 6761): the policy's early check, using the system
# resolver, lets it through, as it would a name answering a public address at that moment.
REBOUND = "rebound.invalid"


class Server:
    """A loopback HTTP server answering every request with a fixed response."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.port = 0

    async def handle(self, stream: SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            self.requests.append(data)
            await stream.send(self.answers[min(len(self.requests), len(self.answers)) - 1])


@asynccontextmanager
async def serving(*answers: bytes) -> AsyncIterator[Server]:
    server = Server(list(answers) or [_answer(404, "X-Nothing: here")])
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    server.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.handle)
        try:
            yield server
        finally:
            group.cancel_scope.cancel()


def resolving(mapping: dict[str, str]) -> tuple[Resolver, list[str]]:
    """A resolver answering each name with its address, and the names it was asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return [mapping[host]]

    return resolve, asked


def upstream(port: int, resolver: Resolver, *, allow_private: bool) -> UpstreamClient:
    policy = UpstreamPolicy(allow_private=allow_private, insecure=frozenset({REBOUND}))
    return UpstreamClient(f"{REBOUND}:{port}", policy, resolver=resolver)


async def test_a_name_rebound_to_loopback_is_refused_at_connect() -> None:
    resolver, asked = resolving({REBOUND: "127.0.0.1"})
    async with serving() as server, upstream(server.port, resolver, allow_private=False) as up:
        await up.check()  # the early check passes: the name does not resolve for it
        with pytest.raises(UpstreamRefused, match="allow_private_network_targets") as caught:
            await up.get_manifest("a/b", "v1")
    assert caught.value.upstream == f"{REBOUND}:{server.port}"
    assert asked == [REBOUND] and server.requests == []


async def test_with_private_targets_the_checked_address_is_reached_by_name() -> None:
    resolver, asked = resolving({REBOUND: "127.0.0.1"})
    async with serving() as server, upstream(server.port, resolver, allow_private=True) as up:
        with pytest.raises(UpstreamNotFound):
            await up.get_manifest("a/b", "v1")
    [request] = server.requests
    assert request.startswith(b"GET /v2/a/b/manifests/v1 HTTP/1.1\r\n")
    assert f"host: {REBOUND}:{server.port}\r\n".encode() in request.lower()
    assert asked == [REBOUND]


class PublicIsLoopback(httpcore.AsyncNetworkBackend):
    """Dials 127.0.0.1 for the public address 8.8.8.8: a public registry, in a test."""

    def __init__(self) -> None:
        self.dialled: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append(host)
        assert host == "8.8.8.8"
        return await httpcore.AnyIOBackend().connect_tcp("127.0.0.1", port, timeout=timeout)


def public(resolver: Resolver, backend: PublicIsLoopback, port: int) -> UpstreamClient:
    """A client of `public.invalid:port` (8.8.8.8 to the resolver), private targets off."""
    pinned = PinnedBackend(allow_private=False, resolver=resolver, backend=backend)
    http = httpx.AsyncClient(transport=PinnedTransport(pinned))
    policy = UpstreamPolicy(
        insecure=frozenset({"public.invalid", "realm.invalid", "blobs.invalid"})
    )
    return UpstreamClient(f"public.invalid:{port}", policy, http=http)


async def test_a_token_realm_rebound_to_loopback_is_refused() -> None:
    resolver, asked = resolving({"public.invalid": "8.8.8.8", "realm.invalid": "127.0.0.1"})
    dialler = PublicIsLoopback()
    async with serving() as server:
        realm = f"http://realm.invalid:{server.port}/token"
        server.answers = [_answer(401, f'WWW-Authenticate: Bearer realm="{realm}"')]
        async with public(resolver, dialler, server.port) as up:
            with pytest.raises(UpstreamRefused, match="token realm") as caught:
                await up.get_manifest("a/b", "v1")
    assert caught.value.upstream == f"public.invalid:{server.port}"
    assert asked == ["public.invalid", "realm.invalid"] and dialler.dialled == ["8.8.8.8"]
    assert len(server.requests) == 1  # the registry's challenge; the realm was never dialled


async def test_a_blob_redirect_rebound_to_metadata_is_refused() -> None:
    resolver, asked = resolving({"public.invalid": "8.8.8.8", "blobs.invalid": "169.254.169.254"})
    dialler = PublicIsLoopback()
    async with serving() as server:
        server.answers = [_answer(307, f"Location: http://blobs.invalid:{server.port}/b?sig=1")]
        async with public(resolver, dialler, server.port) as up:
            with pytest.raises(UpstreamRefused, match=r"blobs\.invalid"):
                async with up.blob("a/b", Digest.of(b"x"), 1):
                    pass
    assert asked == ["public.invalid", "blobs.invalid"] and dialler.dialled == ["8.8.8.8"]


async def test_the_backend_resolves_once_and_judges_every_answer() -> None:
    resolver, asked = resolving({"blobs.invalid": "169.254.169.254", "ok.invalid": "8.8.8.8"})
    backend = PinnedBackend(allow_private=False, resolver=resolver)
    with pytest.raises(AddressRefused, match=r"blobs\.invalid"):
        await backend.connect_tcp("blobs.invalid", 443, timeout=1.0)
    with pytest.raises(AddressRefused):  # an IPv4-mapped literal is judged by its IPv4
        await backend.connect_tcp("::ffff:127.0.0.1", 80, timeout=1.0)
    unresolved = PinnedBackend(allow_private=False, resolver=_unresolved)
    with pytest.raises(httpcore.ConnectError, match="does not resolve"):
        await unresolved.connect_tcp("x.invalid", 80)
    assert await backend.addresses("ok.invalid", 443) == ["8.8.8.8"]
    assert asked == ["blobs.invalid", "ok.invalid"]


def _answer(status: int, header: str) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n{header}"
    return f"{head}\r\n\r\n".encode()


async def _unresolved(host: str, port: int) -> list[str]:
    raise OSError("no such name")


@pytest.mark.parametrize("named", ["registry.invalid", "other.invalid"])
async def test_tls_checks_the_certificate_against_the_name_not_the_address(named: str) -> None:
    # The socket is connected to 127.0.0.1, but TLS is started with the URL's host: a
    # certificate for that name is accepted, one for another name (or the address) is not.
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(named).configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    resolver, asked = resolving({"registry.invalid": "127.0.0.1"})
    backend = PinnedBackend(allow_private=True, resolver=resolver)
    server = Server([_answer(200, "X-Served: yes")])
    plain = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = plain.extra(anyio.abc.SocketAttribute.local_port)
    listener = TLSListener(plain, server_context, standard_compatible=False)
    transport = PinnedTransport(backend, ssl_context=client_context)
    async with (
        listener,
        anyio.create_task_group() as group,
        httpx.AsyncClient(transport=transport) as http,
    ):
        group.start_soon(listener.serve, server.handle)
        url = f"https://registry.invalid:{port}/v2/"
        try:
            if named == "registry.invalid":
                response = await http.get(url)
                assert response.headers["x-served"] == "yes"
            else:
                with pytest.raises(httpx.ConnectError, match="Hostname mismatch"):
                    await http.get(url)
        finally:
            group.cancel_scope.cancel()
    assert asked == ["registry.invalid"]
