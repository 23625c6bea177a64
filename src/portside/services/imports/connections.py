"""Connections to upstreams go to the very addresses the address policy judged.

`UpstreamPolicy.check_address` resolves a name and refuses private addresses, but if the
connection then resolved the name again, a name could answer a public address to the check
and 127.0.0.1 or 169.254.169.254 to the connection (DNS rebinding). So the check is made where
the socket is opened: `PinnedBackend` is the httpcore network backend under the upstream
client's HTTP client; it resolves each host once, refuses it (AddressRefused) if any address
is forbidden and private targets are not allowed, and connects to the checked addresses in
order. Every hop goes through it (the registry, its token realm, each redirect of a blob)
without any call site having to remember. TLS is unchanged: httpcore starts TLS with the URL's
host as `server_hostname`, so SNI and the certificate check still use the name, not the
address the socket was connected to.

Proxy settings from the environment (HTTPS_PROXY, ...) are not used, as for webhooks: a proxy
would resolve the upstream's name itself, after the check.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import contextmanager

import anyio
import httpcore
import httpx

from portside.services.networks import Resolver, forbidden_address, resolve

__all__ = [
    "AddressRefused",
    "PinnedBackend",
    "PinnedTransport",
    "RefusedConnection",
    "Resolver",
    "SocketOption",
    "pinned_client",
    "resolve",
]

SocketOption = (  # httpcore's socket options: (level, name, value[, length])
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class AddressRefused(httpcore.ConnectError):
    """The host resolves to a loopback, link-local or private address the policy forbids."""


class RefusedConnection(httpx.ConnectError):
    """What the HTTP client raises for AddressRefused (the upstream client maps it)."""


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's AnyIO backend, connecting only to addresses it resolved once and checked."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver = resolve,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._resolver = resolver
        self._backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A stream to the first of `host`'s checked addresses that accepts a connection."""
        options = list(socket_options or ())
        failure: Exception | None = None
        for address in await self.addresses(host, port, timeout):
            try:
                return await self._backend.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error  # the next address, as a client resolving itself would try
        assert failure is not None  # addresses() never answers an empty list
        raise failure

    async def addresses(self, host: str, port: int, within: float | None = None) -> list[str]:
        """`host` resolved once (an address literal is its own answer), every address checked."""
        bare = host.strip("[]")
        try:
            ipaddress.ip_address(bare.split("%")[0])
            addresses = [bare]
        except ValueError:
            try:
                with anyio.fail_after(within):
                    addresses = list(dict.fromkeys(await self._resolver(bare, port)))
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"resolving {bare[:100]!r} timed out") from None
            except OSError as error:
                raise httpcore.ConnectError(f"{bare[:100]!r} does not resolve: {error}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{bare[:100]!r} does not resolve")
        if not self._allow_private and any(forbidden_address(a) for a in addresses):
            raise AddressRefused(
                f"{bare[:100]!r} is or resolves to a loopback, link-local or private address"
                " (allow_private_network_targets is off)"
            )
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refused: an upstream is always a host and a port."""
        raise AddressRefused("upstreams are not reached over Unix sockets")

    async def sleep(self, seconds: float) -> None:
        """Sleep as the wrapped backend does."""
        await self._backend.sleep(seconds)


# httpcore's exceptions and the httpx ones a client catches, the most specific first.
_MAPPED: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (AddressRefused, RefusedConnection),
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        for raised, seen in _MAPPED:
            if isinstance(error, raised):
                raise seen(str(error)) from error
        raise


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            with _mapped():
                await aclose()


class PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore connection pool with its own network backend.

    httpx 0.28/0.29's AsyncHTTPTransport takes no network backend; rather than replace its
    private `_pool`, this speaks to httpcore through public APIs only (httpx's transport does
    the same few steps: the request to httpcore's, its exceptions to httpx's).
    """

    def __init__(
        self, backend: httpcore.AsyncNetworkBackend, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's own
        self._pool = httpcore.AsyncConnectionPool(
            # httpx's default: the system's CAs, or SSL_CERT_FILE / SSL_CERT_DIR if set.
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=5.0,
            network_backend=backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` over the pool; the response's body streams as it is read."""
        assert isinstance(request.stream, httpx.AsyncByteStream)  # an AsyncClient's request
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _mapped():
            response = await self._pool.handle_async_request(core)
        assert isinstance(response.stream, AsyncIterable)  # an async pool's body
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()


def pinned_client(
    *, allow_private: bool, timeout: httpx.Timeout, resolver: Resolver = resolve
) -> httpx.AsyncClient:
    """An HTTP client whose every connection goes to an address the policy allows."""
    backend = PinnedBackend(allow_private=allow_private, resolver=resolver)
    # trust_env=False: no proxy from the environment would go around the pinned backend.
    return httpx.AsyncClient(
        transport=PinnedTransport(backend),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
