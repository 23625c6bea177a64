"""`ReplicationService`: a registry's replications (`az acr replication`) and their status.

Status answers, per location the registry is replicated to, whether every blob of an image
is there and how many bytes are not; blobs the worker has not confirmed yet are looked up in
that location's storage directly (and recorded), so the answer is exact before the worker ran.
"""

from __future__ import annotations

import builtins
import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import anyio

from portside.metadata.registries import RegistryStore
from portside.metadata.replication import BlobPresence, ReplicationRecord, ReplicationStore
from portside.oci.digests import Digest
from portside.oci.errors import DigestInvalid
from portside.services.management.errors import Conflict, Invalid, NotFound
from portside.storage.errors import ObjectNotFound
from portside.storage.layout import blob_key
from portside.storage.located import LocatedBlobs

__all__ = ["ImageStatus", "LocationStatus", "ReplicationService", "probe"]

_LOCATION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_PROBE_KEY = "health/probe"
_CHECK_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class LocationStatus:
    """One location's share of a status: blobs present of those wanted, bytes pending."""

    location: str
    region_endpoint_enabled: bool
    storage: str
    blobs: int
    present: int
    pending_bytes: int
    failing: int = 0
    last_error: str | None = None

    @property
    def complete(self) -> bool:
        """Every blob is present in the location."""
        return self.present == self.blobs


@dataclass(frozen=True, slots=True)
class ImageStatus:
    """Where an image (or, with `image` None, the registry's backlog) stands per location."""

    registry: str
    image: str | None
    locations: tuple[LocationStatus, ...]


async def probe(located: LocatedBlobs | None, location: str) -> str:
    """ "ok", "unknown" (no such location configured) or "unreachable": does its storage answer?"""
    if located is None or location not in located.locations():
        return "unknown"
    try:
        with anyio.fail_after(_CHECK_SECONDS):
            with contextlib.suppress(ObjectNotFound):
                await located.driver(location).stat(_PROBE_KEY)
    except Exception:
        return "unreachable"
    return "ok"


class ReplicationService:
    """Replications of registries, and what each location holds."""

    def __init__(
        self,
        registries: RegistryStore,
        store: ReplicationStore,
        located: LocatedBlobs | None,
        known: Sequence[str],
    ) -> None:
        """`known`: the locations of the deployment (the settings' `locations` and the node's
        own); `located`: this node's storage over all of them, None when not geo-replicated."""
        self._registries = registries
        self._store = store
        self._located = located
        self._known = tuple(dict.fromkeys(known))

    async def create(
        self, registry: str, location: str, region_endpoint_enabled: bool = True
    ) -> ReplicationRecord:
        """Replicate the registry to `location`; Invalid for an unknown location, Conflict if
        it is replicated there already."""
        registry_id = await self._registry_id(registry)
        if not _LOCATION.fullmatch(location) or location not in self._known:
            known = ", ".join(self._known) or "none configured"
            raise Invalid(f"unknown location {location[:64]!r} (known: {known})")
        created = await self._store.create(registry_id, location, region_endpoint_enabled)
        if created is None:
            raise Conflict(f"registry {registry!r} is replicated to {location!r} already")
        return created

    async def list(self, registry: str) -> builtins.list[ReplicationRecord]:
        """The registry's replications, by location."""
        return await self._store.list(await self._registry_id(registry))

    async def show(self, registry: str, location: str) -> ReplicationRecord:
        """One replication; NotFound if there is none."""
        found = await self._store.get(await self._registry_id(registry), location)
        if found is None:
            raise NotFound(f"registry {registry!r} is not replicated to {location[:64]!r}")
        return found

    async def update(
        self, registry: str, location: str, region_endpoint_enabled: bool
    ) -> ReplicationRecord:
        """Take a location out of routing (or back in)."""
        registry_id = await self._registry_id(registry)
        found = await self._store.update(registry_id, location, region_endpoint_enabled)
        if found is None:
            raise NotFound(f"registry {registry!r} is not replicated to {location[:64]!r}")
        return found

    async def delete(self, registry: str, location: str) -> None:
        """Stop replicating to `location`; NotFound if it was not."""
        if not await self._store.delete(await self._registry_id(registry), location):
            raise NotFound(f"registry {registry!r} is not replicated to {location[:64]!r}")

    async def status(self, registry: str, image: str | None = None) -> ImageStatus:
        """Per replicated location: an image's blobs present and bytes pending, or (without
        `image`, `REPO:TAG` or `REPO@DIGEST`) the registry's backlog."""
        registry_id = await self._registry_id(registry)
        replicas = await self._store.list(registry_id)
        if image is None:
            return ImageStatus(
                registry, None, tuple([await self._backlog(registry_id, r) for r in replicas])
            )
        repository, reference = _image(image)
        digests = await self._store.image_blobs(registry_id, repository, reference)
        if digests is None:
            raise NotFound(f"image {image[:300]!r} not found in {registry!r}")
        rows = await self._store.presence(digests, [r.location for r in replicas])
        answers = []
        for replica in replicas:
            mine = [presence for location, presence in rows if location == replica.location]
            answers.append(await self._image_in(replica, mine))
        return ImageStatus(registry, image, tuple(answers))

    async def _backlog(self, registry_id: int, replica: ReplicationRecord) -> LocationStatus:
        summary = await self._store.summary(registry_id, replica.location)
        return LocationStatus(
            replica.location,
            replica.region_endpoint_enabled,
            await probe(self._located, replica.location),
            summary.blobs,
            0,
            summary.bytes,
            summary.failing,
            summary.last_error,
        )

    async def _image_in(
        self, replica: ReplicationRecord, blobs: Sequence[BlobPresence]
    ) -> LocationStatus:
        location = replica.location
        storage = await probe(self._located, location)
        present = pending = failing = 0
        error = None
        for blob in blobs:
            here = blob.state == "present" or (
                storage == "ok" and await self._check(blob, location)
            )
            if here:
                present += 1
                continue
            pending += blob.size
            if blob.state == "failed":
                failing, error = failing + 1, blob.last_error
        return LocationStatus(
            location,
            replica.region_endpoint_enabled,
            storage,
            len(blobs),
            present,
            pending,
            failing,
            error,
        )

    async def _check(self, blob: BlobPresence, location: str) -> bool:
        """Look for an unconfirmed blob in the location's storage; record it if there."""
        assert self._located is not None  # probe answered "ok"
        try:
            with anyio.fail_after(_CHECK_SECONDS):
                size = await self._located.driver(location).stat(
                    blob_key(Digest.parse(blob.digest))
                )
        except (Exception, DigestInvalid):
            return False
        await self._store.confirm(blob.digest, location, size)
        return True

    async def _registry_id(self, registry: str) -> int:
        found = await self._registries.get(registry)
        if found is None:
            raise NotFound(f"registry {registry[:64]!r} not found")
        return found.id


def _image(image: str) -> tuple[str, str]:
    """`REPO:TAG` or `REPO@DIGEST` → (repository, tag or digest)."""
    if "@" in image:
        repository, _, digest = image.partition("@")
        try:
            return repository, str(Digest.parse(digest))
        except DigestInvalid:
            raise Invalid(f"invalid digest in {image[:300]!r}") from None
    repository, colon, tag = image.rpartition(":")
    if not colon or "/" in tag:
        return image, "latest"
    return repository, tag
