"""`PullThrough`: the artifact cache on the data plane (docs/import-and-cache.md).

A pull of a repository under a cache rule's target that misses locally is served from the
rule's upstream and stored through the content services a push uses, so cached content is
ordinary content: listed, locked, retained, purged, counted in usage, and it fires webhooks.

- A manifest (by tag or digest) is fetched, verified and stored; its blobs and child
  manifests are fetched when a client asks for them (cache_blobs.py streams blobs).
- A tag fetched from the upstream is trusted for the rule's TTL, then re-checked with a HEAD
  (rate limits are spent sparingly) and fetched again only if its digest changed. A tag
  pushed locally (under a rule that allows pushes) is never overwritten. A tag deleted
  locally is fetched again on the next pull.
- When the upstream fails, what is cached keeps being served; what is not answers an error
  naming the rule and the upstream (cache_errors.py).
- Concurrent misses of the same manifest or blob fetch it once per process.

The rules of a registry are read at most every RULES_REFRESH_SECONDS per process (at once
after a change made through this process), so a registry without rules pays one dictionary
lookup per pull.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from datetime import timedelta

import anyio

from portside.metadata.cache_rules import CacheRuleRecord, CacheRuleStore
from portside.metadata.clock import utcnow
from portside.metadata.records import ManifestRecord
from portside.oci.digests import Digest
from portside.services.content.blobs import BlobInfo, BlobService
from portside.services.content.manifests import ManifestService, Reference
from portside.services.content.targets import Target
from portside.services.errors import BlobUnknown, ManifestUnknown, NameUnknown, RegistryError
from portside.services.imports.cache_blobs import BlobFlights, TeeStream
from portside.services.imports.cache_errors import (
    CacheBlobUnavailable,
    CacheManifestUnavailable,
    CachePushRefused,
    CacheUpstreamBusy,
)
from portside.services.imports.cache_rules import Match, match_rule
from portside.services.imports.credential_sets import UpstreamLogin
from portside.services.imports.errors import (
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamUnauthorized,
)
from portside.services.imports.upstream import (
    FetchedManifest,
    UpstreamClient,
    UpstreamCredentials,
    UpstreamPolicy,
)
from portside.services.management.errors import ManagementError

__all__ = ["REFRESH_SECONDS", "RULES_REFRESH_SECONDS", "CredentialLookup", "PullThrough"]

log = logging.getLogger("portside.cache")

RULES_REFRESH_SECONDS = 5.0
"""How stale a process's copy of a registry's rules may be (changes made elsewhere)."""

CLOSE_SECONDS = 5.0
"""How long closing waits for the fetches under way to stop and upstream connections to close."""

REFRESH_SECONDS = 5.0
"""How long a pull of a cached tag waits for the upstream's answer to its re-check."""

CredentialLookup = Callable[[str, str], Awaitable[UpstreamLogin]]
"""(registry, credential set) → its login server and credentials (CredentialSetService)."""

_MISSES = (ManifestUnknown, NameUnknown)


class _KeyedLocks:
    """One lock per key, held only while someone uses it: single-flight within a process."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[anyio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        lock = lock or anyio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class PullThrough:
    """Pull-through caching of the repositories under a registry's cache rules."""

    def __init__(
        self,
        rules: CacheRuleStore,
        manifests: ManifestService,
        blobs: BlobService,
        flights: BlobFlights,
        policy: UpstreamPolicy,
        *,
        credentials: CredentialLookup | None = None,
    ) -> None:
        self._rules = rules
        self._manifests = manifests
        self._blobs = blobs
        self._flights = flights
        self._policy = policy
        self._credentials = credentials
        self._known: dict[int, tuple[float, list[CacheRuleRecord]]] = {}
        # Counts `forget_rules` calls: a read begun before one may hold the rules as they were.
        self._forgotten = 0
        self._clients: dict[Hashable, UpstreamClient] = {}
        self._locks = _KeyedLocks()

    def forget_rules(self, registry_id: int) -> None:
        """Read the registry's rules again on next use (they changed in this process)."""
        self._known.pop(registry_id, None)
        self._forgotten += 1

    async def match(self, target: Target) -> Match | None:
        """The rule serving the target's repository, if any."""
        now = time.monotonic()
        known = self._known.get(target.registry_id)
        if known is None or now - known[0] > RULES_REFRESH_SECONDS:
            forgotten = self._forgotten
            known = (now, await self._rules.list(target.registry_id))
            if forgotten == self._forgotten:  # else a change landed mid-read: keep it unknown
                self._known[target.registry_id] = known
        return match_rule(known[1], target.repository) if known[1] else None

    async def check_push(self, target: Target) -> None:
        """CachePushRefused if a rule serves the repository and does not allow pushes."""
        found = await self.match(target)
        if found is not None and not found.rule.allow_push:
            raise CachePushRefused(
                f"repository {target.repository!r} is served by cache rule {found.rule.name!r} "
                f"from {found.rule.source_repo}; the rule does not allow pushes",
                {"rule": found.rule.name, "upstream": found.rule.source_repo},
            )

    async def get_manifest(self, target: Target, reference: Reference) -> ManifestRecord:
        """The manifest, from storage or, under a rule, from the upstream (then stored)."""
        found = await self.match(target)
        if found is None:
            return await self._manifests.get(target, reference)
        try:
            record = await self._manifests.get(target, reference)
        except _MISSES:
            return await self._fetch_manifest(target, reference, found)
        if reference.tag is not None:
            return await self._refreshed(target, reference.tag, record, found)
        return record

    async def get_blob(
        self, target: Target, digest: Digest, *, stream: bool
    ) -> BlobInfo | TeeStream:
        """A blob the repository lacks, under a rule: fetched from the upstream and stored.

        With `stream`, the first caller gets the bytes as they arrive (TeeStream); others,
        and callers without `stream`, get the stored blob once the fetch is done. BlobUnknown
        if no rule serves the repository.
        """
        found = await self.match(target)
        if found is None:
            raise BlobUnknown("blob unknown to registry", {"digest": str(digest)})
        try:
            tee = await self._flights.fetch(
                target,
                digest,
                found.upstream_repository,
                lambda: self._client(found),
                stream=stream,
            )
        except UpstreamError as error:
            raise _failure(found, f"blob {digest}", error) from None
        return tee if tee is not None else await self._blobs.stat(target, digest)

    async def aclose(self) -> None:
        """Stop the fetches under way and close the upstream connections."""
        # Bounded: a shutdown must not wait on an upstream that stopped answering.
        with anyio.move_on_after(CLOSE_SECONDS):
            await self._flights.aclose()
            for client in self._clients.values():
                await client.aclose()
        self._clients.clear()

    async def _fetch_manifest(
        self, target: Target, reference: Reference, found: Match
    ) -> ManifestRecord:
        text = reference.tag or str(reference.digest)
        async with self._locks.hold((target.registry_id, target.repository, text)):
            with contextlib.suppress(*_MISSES):  # a concurrent pull stored it meanwhile
                return await self._manifests.get(target, reference)
            try:
                upstream = await self._client(found)
                fetched = await upstream.get_manifest(found.upstream_repository, text)
            except UpstreamError as error:
                raise _failure(found, f"manifest {text}", error) from None
            await self._store(target, reference, fetched, found)
        return await self._manifests.get(target, reference)

    async def _refreshed(
        self, target: Target, tag: str, record: ManifestRecord, found: Match
    ) -> ManifestRecord:
        """The cached tag, re-checked upstream once its rule's TTL has passed."""
        if not await self._due(target, tag, found):
            return record
        async with self._locks.hold((target.registry_id, target.repository, tag)):
            if not await self._due(target, tag, found):  # a concurrent pull checked it
                return await self._manifests.get(target, Reference(tag=tag))
            failure: object = None
            try:
                # A slow or rate-limiting upstream must not hold a pull that storage can answer.
                with anyio.fail_after(REFRESH_SECONDS):
                    moved = await self._check(target, tag, record, found)
            except TimeoutError:
                failure = f"no answer within {REFRESH_SECONDS:.0f} s"
            except (UpstreamError, RegistryError) as error:
                failure = getattr(error, "message", error)
            if failure is not None:
                # Served as cached, and not asked again before another TTL: an outage costs
                # one failed check per tag and TTL, not one per pull.
                log.warning(
                    "cache rule %s: serving %s:%s as cached; its check failed: %s",
                    found.rule.name,
                    target.repository,
                    tag,
                    failure,
                )
                await self._rules.record_check(found.rule.id, target.repository, tag, record.digest)
                return record
            if not moved:
                return record
        return await self._manifests.get(target, Reference(tag=tag))

    async def _check(self, target: Target, tag: str, record: ManifestRecord, found: Match) -> bool:
        """HEAD the tag upstream; fetch and store it if it moved. Whether it moved."""
        upstream = await self._client(found)
        head = await upstream.head_manifest(found.upstream_repository, tag)
        if str(head.digest) == record.digest:
            await self._rules.record_check(found.rule.id, target.repository, tag, record.digest)
            return False
        fetched = await upstream.get_manifest(found.upstream_repository, str(head.digest))
        await self._store(target, Reference(tag=tag), fetched, found)
        return True

    async def _due(self, target: Target, tag: str, found: Match) -> bool:
        check = await self._rules.tag_check(found.rule.id, target.repository, tag)
        if check is None:  # pushed here, not fetched: never overwritten from the upstream
            return False
        return utcnow() - check.checked_at >= timedelta(seconds=found.rule.ttl_seconds)

    async def _store(
        self, target: Target, reference: Reference, fetched: FetchedManifest, found: Match
    ) -> None:
        await self._manifests.put(
            target, reference, fetched.body, fetched.media_type, lazy_references=True
        )
        if reference.tag is not None:
            await self._rules.record_check(
                found.rule.id, target.repository, reference.tag, str(fetched.digest)
            )

    async def _client(self, found: Match) -> UpstreamClient:
        """The pooled client of the rule's upstream, with the rule's credential set."""
        credentials: UpstreamCredentials | None = None
        name = found.rule.credential_set
        if name is not None:
            if self._credentials is None:
                raise UpstreamUnauthorized(
                    found.host, f"credential set {name!r} cannot be read by this deployment"
                )
            try:
                login = await self._credentials(found.rule.registry, name)
            except ManagementError as error:  # the set was deleted after the rule named it
                raise UpstreamUnauthorized(found.host, error.message) from None
            if login.login_server.lower() != found.host:
                raise UpstreamUnauthorized(
                    found.host, f"credential set {name!r} is for {login.login_server}"
                )
            credentials = login.credentials
        key = (found.host, credentials)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = UpstreamClient(
                found.host, self._policy, credentials=credentials
            )
        return client


def _failure(found: Match, what: str, error: UpstreamError) -> RegistryError:
    """The data plane's error for an upstream failure, naming the rule and the upstream."""
    rule = found.rule.name
    upstream = f"{found.host}/{found.upstream_repository}"
    detail = {"rule": rule, "upstream": upstream}
    if isinstance(error, UpstreamRateLimited):
        message = f"cache rule {rule!r}: {upstream} is rate limiting: {error.message}"
        return CacheUpstreamBusy(message, detail, error.retry_after)
    if isinstance(error, UpstreamNotFound):
        message = f"{what} not found through cache rule {rule!r} at {upstream}"
    else:
        message = f"{what} is not cached and cache rule {rule!r} could not fetch it from {upstream}"
    message = f"{message}: {error.message}"
    if what.startswith("blob"):
        return CacheBlobUnavailable(message, detail)
    return CacheManifestUnavailable(message, detail)
