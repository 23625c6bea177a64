"""An async client of another registry: the upstream of imports and cache rules.

Contract (stable; imports and the artifact cache build on it):

    policy = UpstreamPolicy(allow_private=..., insecure=frozenset({"host[:port]", ...}))
    async with UpstreamClient("HOST[:PORT]", policy, credentials=UpstreamCredentials(u, p)) as up:
        manifest = await up.get_manifest("a/b/c", "tag-or-digest")  # FetchedManifest, verified
        head = await up.head_manifest("a/b/c", "tag")                 # ManifestHead (digest, size)
        await up.check()                                              # the address policy, now
        async with up.blob("a/b/c", digest, size) as chunks:          # size may be None
            async for chunk in chunks: ...                            # hashed while streaming
        referrers = await up.referrers("a/b/c", digest)               # tuple[Descriptor, ...]

- Every byte is verified: a manifest's body hashes to the digest asked for (or the
  `Docker-Content-Digest` the upstream names for a tag); a blob's stream raises
  UpstreamDigestMismatch (or UpstreamInvalid for a wrong size) *instead of ending* when its
  bytes do not match, so a consumer that commits only after the iterator ended stores nothing
  wrong.
- Every read is bounded: manifests and referrer lists by MAX_MANIFEST_BYTES, blobs by their
  descriptor's size (or the upstream's Content-Length when the size is not known).
- Authentication: Docker/OCI token auth (401 `Bearer realm,service,scope` → realm with Basic
  credentials or anonymously → bearer token, cached per scope) and Basic.
- 429 and 503 are retried `retries` times, waiting what `Retry-After` asks (at most
  `max_retry_wait` seconds), then UpstreamRateLimited.
- Blob redirects (S3-style presigned URLs) are followed, each hop checked by the policy, and
  credentials are never sent to another host.
- Address policy (UpstreamPolicy): a host that is or resolves to a loopback, link-local or
  private address is refused (UpstreamRefused) unless `allow_private`, checked before a hop and
  again where its socket is opened, which connects only to the addresses it checked
  (services/imports/connections.py, against DNS rebinding); loopback hosts are spoken
  to over plain HTTP, others over HTTPS unless listed in `insecure` (`host` or `host:port`).
- Failures raise services/imports/errors.py's UpstreamError subclasses, naming the upstream.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import quote, urljoin, urlsplit

import anyio
import httpx

from portside.oci import media_types as mt
from portside.oci.digests import Digest
from portside.oci.errors import OciValueError
from portside.oci.manifests import MAX_MANIFEST_BYTES, Descriptor, ParsedManifest, parse_manifest
from portside.oci.names import validate_name
from portside.services.imports.challenges import retry_after_seconds
from portside.services.imports.connections import (
    RefusedConnection,
    Resolver,
    pinned_client,
    resolve,
)
from portside.services.imports.errors import (
    UpstreamDigestMismatch,
    UpstreamError,
    UpstreamInvalid,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRefused,
    UpstreamUnauthorized,
    UpstreamUnreachable,
)
from portside.services.imports.logins import Authenticator, UpstreamCredentials, read_bounded
from portside.services.imports.policy import UpstreamPolicy, split_upstream

__all__ = [
    "MANIFEST_ACCEPT",
    "FetchedManifest",
    "ManifestHead",
    "UpstreamBlob",
    "UpstreamClient",
    "UpstreamCredentials",
    "UpstreamPolicy",
    "split_upstream",
]

MANIFEST_ACCEPT = ", ".join(
    (mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST)
)
_MAX_REDIRECTS = 5
_MAX_REFERRER_PAGES = 20
_CHUNK = 1 << 20
# Docker Hub's login server is not the host that serves its registry API.
_ALIASES = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    """A manifest read from an upstream: its verified digest, media type, bytes and facts."""

    digest: Digest
    media_type: str
    body: bytes
    parsed: ParsedManifest


@dataclass(frozen=True, slots=True)
class ManifestHead:
    """What a HEAD of a manifest tells: its digest, media type and size."""

    digest: Digest
    media_type: str | None
    size: int | None


class UpstreamBlob(AsyncIterator[bytes]):
    """A blob's verified chunks, and its size when known before the first byte (the
    descriptor's, else the upstream's Content-Length): a cache streaming the blob on to a
    client announces it as Content-Length."""

    def __init__(self, chunks: AsyncIterator[bytes], size: int | None) -> None:
        self._chunks = chunks
        self.size = size

    async def __anext__(self) -> bytes:
        """The next verified chunk."""
        return await anext(self._chunks)


class UpstreamClient:
    """One upstream registry, spoken to over one pooled HTTP client."""

    def __init__(
        self,
        login_server: str,
        policy: UpstreamPolicy,
        *,
        credentials: UpstreamCredentials | None = None,
        http: httpx.AsyncClient | None = None,
        retries: int = 3,
        max_retry_wait: float = 30.0,
        timeout: float = 60.0,
        resolver: Resolver = resolve,
    ) -> None:
        host, port = split_upstream(login_server)
        self.name = login_server.strip()
        self.policy = policy
        host = _ALIASES.get(host, host)
        self._host, self._port = host, port
        scheme = policy.scheme(host, port)
        netloc = f"[{host}]" if ":" in host else host
        self._base = f"{scheme}://{netloc}" + (f":{port}" if port else "")
        # Its connections go only to addresses resolved once and checked by the policy
        # (services/imports/connections.py): no hop can be rebound to a private address.
        self._http = http or pinned_client(
            allow_private=policy.allow_private,
            timeout=httpx.Timeout(timeout, connect=10.0),
            resolver=resolver,
        )
        self._owns_http = http is None
        self._retries = retries
        self._max_retry_wait = max_retry_wait
        self._auth = Authenticator(self.name, policy, self._http, credentials)
        self._checked: set[tuple[str, int]] = set()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this client made it."""
        if self._owns_http:
            await self._http.aclose()

    async def check(self) -> None:
        """UpstreamRefused if the policy forbids this upstream (its name is resolved now)."""
        self.policy.check_scheme(self.name, self._base)
        port = self._port or (443 if self._base.startswith("https:") else 80)
        await self.policy.check_address(self.name, self._host, port)

    async def get_manifest(self, repository: str, reference: str) -> FetchedManifest:
        """The manifest `reference` (a tag or a digest) of `repository`, its digest verified."""
        wanted = _digest_or_none(reference)
        path = self._path(repository, "manifests", reference)
        response = await self._request("GET", path, repository, accept=MANIFEST_ACCEPT)
        try:
            body = await self._read_bounded(response, MAX_MANIFEST_BYTES, "manifest")
        finally:
            await response.aclose()
        named = wanted or _header_digest(self.name, response.headers.get("docker-content-digest"))
        digest = Digest.of(body, named.algorithm if named else "sha256")
        if named is not None and digest != named:
            raise UpstreamDigestMismatch(
                self.name, f"manifest {repository}:{reference} hashes to {digest}, not {named}"
            )
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        try:
            parsed = parse_manifest(
                body, content_type if content_type in mt.MANIFEST_TYPES else None
            )
        except OciValueError as error:
            raise UpstreamInvalid(self.name, f"manifest {digest}: {error}") from None
        return FetchedManifest(digest, parsed.media_type, body, parsed)

    async def head_manifest(self, repository: str, reference: str) -> ManifestHead:
        """The digest, media type and size of a manifest, spending a HEAD where possible."""
        path = self._path(repository, "manifests", reference)
        response = await self._request("HEAD", path, repository, accept=MANIFEST_ACCEPT)
        await response.aclose()
        digest = _digest_or_none(reference) or _header_digest(
            self.name, response.headers.get("docker-content-digest")
        )
        if digest is None:  # an upstream that does not name the digest: read the manifest
            fetched = await self.get_manifest(repository, reference)
            return ManifestHead(fetched.digest, fetched.media_type, len(fetched.body))
        length = response.headers.get("content-length")
        media_type = response.headers.get("content-type", "").split(";")[0].strip() or None
        return ManifestHead(
            digest, media_type, int(length) if length and length.isdigit() else None
        )

    @asynccontextmanager
    async def blob(
        self, repository: str, digest: Digest, size: int | None = None
    ) -> AsyncIterator[UpstreamBlob]:
        """The blob's bytes as an async iterator of chunks, verified while they stream."""
        path = self._path(repository, "blobs", str(digest))
        response = await self._request("GET", path, repository, follow=True)
        try:
            length = response.headers.get("content-length")
            declared = int(length) if length and length.isdigit() else None
            if size is not None and declared is not None and declared != size:
                raise UpstreamInvalid(
                    self.name, f"blob {digest} is {declared} bytes there, {size} expected"
                )
            known = size if size is not None else declared
            yield UpstreamBlob(self._verified(response, digest, known), known)
        finally:
            await response.aclose()

    async def referrers(self, repository: str, digest: Digest) -> tuple[Descriptor, ...]:
        """The manifests whose subject is `digest`: the referrers API, else the tag schema."""
        path: str | None = self._path(repository, "referrers", str(digest))
        found: list[Descriptor] = []
        pages = 0
        while path is not None and pages < _MAX_REFERRER_PAGES:
            try:
                response = await self._request("GET", path, repository, accept=mt.OCI_INDEX)
            except UpstreamNotFound:
                if pages:
                    break
                return await self._referrers_by_tag(repository, digest)
            try:
                body = await self._read_bounded(response, MAX_MANIFEST_BYTES, "referrers list")
            finally:
                await response.aclose()
            found.extend(self._index_entries(body, f"referrers of {digest}"))
            path = _next_page(response)
            pages += 1
        return tuple(found)

    async def _referrers_by_tag(self, repository: str, digest: Digest) -> tuple[Descriptor, ...]:
        # The OCI fallback for registries without the referrers API (distribution 2.8): an
        # index tagged `<alg>-<hex>` lists the referrers.
        try:
            index = await self.get_manifest(repository, f"{digest.algorithm}-{digest.hex}")
        except UpstreamNotFound:
            return ()
        return index.parsed.children

    def _index_entries(self, body: bytes, what: str) -> tuple[Descriptor, ...]:
        try:
            return parse_manifest(body, mt.OCI_INDEX).children
        except OciValueError as error:
            raise UpstreamInvalid(self.name, f"{what}: {error}") from None

    async def _verified(
        self, response: httpx.Response, digest: Digest, size: int | None
    ) -> AsyncIterator[bytes]:
        hasher = hashlib.new(digest.algorithm)
        total = 0
        try:
            async for chunk in response.aiter_bytes(_CHUNK):
                total += len(chunk)
                if size is not None and total > size:
                    raise UpstreamInvalid(self.name, f"blob {digest} is longer than {size} bytes")
                hasher.update(chunk)
                yield chunk
        except httpx.HTTPError as error:
            raise UpstreamUnreachable(self.name, f"blob {digest} broke off: {error!r}") from None
        if size is not None and total != size:
            raise UpstreamInvalid(self.name, f"blob {digest} ended after {total} of {size} bytes")
        got = Digest(digest.algorithm, hasher.hexdigest())
        if got != digest:
            raise UpstreamDigestMismatch(self.name, f"blob {digest} hashes to {got}")

    def _path(self, repository: str, kind: str, reference: str) -> str:
        try:
            validate_name(repository)
        except OciValueError:
            raise UpstreamNotFound(
                self.name, f"{repository[:200]!r} is not a repository name"
            ) from None
        return f"/v2/{repository}/{kind}/{quote(reference, safe=':@')}"

    async def _request(
        self,
        method: str,
        path: str,
        repository: str,
        *,
        accept: str | None = None,
        follow: bool = False,
    ) -> httpx.Response:
        """A streamed 2xx response to `method path`; the caller closes it."""
        scope = f"repository:{repository}:pull"
        attempts = 0
        authenticated = False
        while True:
            response = await self._exchange(method, self._base + path, scope, accept, follow)
            status = response.status_code
            if status == 401 and not authenticated:
                challenge = response.headers.get("www-authenticate")
                await response.aclose()
                await self._auth.answer(challenge, scope)
                authenticated = True
                continue
            if status in (429, 503) and attempts < self._retries:
                wait = retry_after_seconds(response.headers.get("retry-after"))
                await response.aclose()
                if wait is not None and wait > self._max_retry_wait:
                    raise UpstreamRateLimited(
                        self.name, f"rate limited; retry after {wait:.0f} s", wait
                    )
                await anyio.sleep(wait if wait is not None else min(2.0**attempts, 8.0))
                attempts += 1
                continue
            if 200 <= status < 300:
                return response
            await response.aclose()
            raise self._failure(status, method, path, response.headers.get("retry-after"))

    def _failure(
        self, status: int, method: str, path: str, retry_after: str | None
    ) -> UpstreamError:
        what = f"{method} {path[:300]}"
        if status in (401, 403):
            return UpstreamUnauthorized(self.name, f"{what} was refused ({status})")
        if status == 404:
            return UpstreamNotFound(self.name, f"{what}: not found")
        if status in (429, 503):
            return UpstreamRateLimited(
                self.name,
                f"{what}: still rate limited ({status})",
                retry_after_seconds(retry_after),
            )
        if status >= 500:
            return UpstreamUnreachable(self.name, f"{what} failed on its side ({status})")
        return UpstreamInvalid(self.name, f"{what} answered {status}")

    async def _exchange(
        self, method: str, url: str, scope: str, accept: str | None, follow: bool
    ) -> httpx.Response:
        """Send one request (and follow its redirects if asked), each hop's address checked."""
        headers = {"Accept": accept} if accept else {}
        origin = (self._host, self._port)
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme == "https" else 80)
            self.policy.check_scheme(self.name, url)
            if (host, port) not in self._checked:
                await self.policy.check_address(self.name, host, port)
                self._checked.add((host, port))
            if (host, parts.port) == origin:
                headers.update(self._auth.header(scope))
            else:  # a presigned URL carries its own authority; ours would only be refused
                headers.pop("Authorization", None)
            try:
                request = self._http.build_request(method, url, headers=headers)
                response = await self._http.send(request, stream=True)
            except RefusedConnection as error:
                raise UpstreamRefused(self.name, str(error)) from None
            except httpx.HTTPError as error:
                raise UpstreamUnreachable(self.name, f"{method} {host}: {error!r}") from None
            location = response.headers.get("location")
            if not (follow and response.is_redirect and location):
                return response
            await response.aclose()
            url = urljoin(url, location)
        raise UpstreamInvalid(self.name, f"more than {_MAX_REDIRECTS} redirects")

    async def _read_bounded(self, response: httpx.Response, limit: int, what: str) -> bytes:
        return await read_bounded(self.name, response, limit, what)


def _digest_or_none(reference: str) -> Digest | None:
    if ":" not in reference:
        return None
    try:
        return Digest.parse(reference)
    except OciValueError:
        return None


def _header_digest(upstream: str, value: str | None) -> Digest | None:
    if not value:
        return None
    try:
        return Digest.parse(value.strip())
    except OciValueError:
        raise UpstreamInvalid(
            upstream, f"Docker-Content-Digest {value[:100]!r} is malformed"
        ) from None


def _next_page(response: httpx.Response) -> str | None:
    link = response.links.get("next")
    url = link.get("url") if link else None
    if not url:
        return None
    parts = urlsplit(url)
    return (
        parts.path + (f"?{parts.query}" if parts.query else "")
        if parts.path.startswith("/v2/")
        else None
    )
