"""Where an import reads from: an upstream registry, or a registry of this deployment.

Both answer the same three questions: a manifest by tag or digest (verified bytes and what
they reference), the referrers of a digest, and "put this blob in that repository". An
upstream fetches the blob and stores it through the push path (`UploadService.upload_whole`:
verified, quota checked, webhooks, usage); a local source links the stored blob into the
target without reading a byte (`ImportStore.link_across`): blobs are content-addressed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from portside.metadata.errors import LockViolation, QuotaViolation
from portside.metadata.imports import ImportStore
from portside.metadata.manifests import ManifestStore
from portside.oci.digests import Digest
from portside.oci.errors import OciValueError
from portside.oci.manifests import Descriptor, parse_manifest
from portside.services.content.locks import lock_errors
from portside.services.content.targets import Target
from portside.services.content.uploads import UploadService
from portside.services.errors import ManifestBlobUnknown, ManifestUnknown
from portside.services.imports.upstream import FetchedManifest, UpstreamClient
from portside.storage.base import closing

__all__ = ["LocalSource", "Source", "UpstreamSource"]

Progress = Callable[[int], None]
"""Told how many more bytes have been copied (or found already there)."""


class Source(Protocol):
    """What an import copies from."""

    name: str

    async def manifest(self, reference: str) -> FetchedManifest:
        """A manifest by tag or digest, its digest verified."""
        ...

    async def referrers(self, digest: Digest) -> tuple[Descriptor, ...]:
        """The manifests whose subject is `digest`."""
        ...

    async def place_blob(self, target: Target, blob: Descriptor, progress: Progress) -> None:
        """Make `target` link the blob (copying its bytes only if they must come from away)."""
        ...


class UpstreamSource:
    """A repository of an upstream registry, read through an UpstreamClient."""

    def __init__(
        self, client: UpstreamClient, repository: str, uploads: UploadService, store: ImportStore
    ) -> None:
        self.name = f"{client.name}/{repository}"
        self._client = client
        self._repository = repository
        self._uploads = uploads
        self._store = store

    async def manifest(self, reference: str) -> FetchedManifest:
        """The upstream's manifest, verified by the client."""
        return await self._client.get_manifest(self._repository, reference)

    async def referrers(self, digest: Digest) -> tuple[Descriptor, ...]:
        """The upstream's referrers (API or tag schema)."""
        return await self._client.referrers(self._repository, digest)

    async def place_blob(self, target: Target, blob: Descriptor, progress: Progress) -> None:
        """Stream the blob from the upstream into the push path; nothing if already linked."""
        if await self._store.linked(target.registry_id, target.repository, str(blob.digest)):
            progress(blob.size)
            return
        async with self._client.blob(self._repository, blob.digest, blob.size) as chunks:
            await self._uploads.upload_whole(target, blob.digest, _counted(chunks, progress))


class LocalSource:
    """A repository of another registry of this deployment (or of the same one)."""

    def __init__(
        self,
        registry: str,
        registry_id: int,
        repository: str,
        manifests: ManifestStore,
        store: ImportStore,
    ) -> None:
        self.name = f"{registry}/{repository}"
        self._registry_id = registry_id
        self._repository = repository
        self._manifests = manifests
        self._store = store

    async def manifest(self, reference: str) -> FetchedManifest:
        """The stored manifest (read locks apply, as to a pull)."""
        by_digest = ":" in reference
        with lock_errors():
            record = await self._manifests.get(
                self._registry_id,
                self._repository,
                digest=reference if by_digest else None,
                tag=None if by_digest else reference,
            )
        if record is None:
            raise ManifestUnknown(
                f"{self.name} has no manifest {reference[:200]}", {"reference": reference[:200]}
            )
        try:
            parsed = parse_manifest(record.body, record.media_type)
        except OciValueError as error:  # stored bytes were verified at their push
            raise ManifestUnknown(f"{self.name}: {error}") from None
        return FetchedManifest(Digest.parse(record.digest), parsed.media_type, record.body, parsed)

    async def referrers(self, digest: Digest) -> tuple[Descriptor, ...]:
        """The stored referrers of `digest`."""
        found = await self._manifests.referrers(
            self._registry_id, self._repository, str(digest), None
        )
        return tuple(
            Descriptor(r.media_type, Digest.parse(r.digest), r.size, r.artifact_type) for r in found
        )

    async def place_blob(self, target: Target, blob: Descriptor, progress: Progress) -> None:
        """Link the stored blob into `target`: no byte is read or written."""
        try:
            size = await self._store.link_across(
                self._registry_id,
                self._repository,
                target.registry_id,
                target.repository,
                str(blob.digest),
            )
        except (LockViolation, QuotaViolation):
            with lock_errors():
                raise
        if size is None:
            raise ManifestBlobUnknown(
                f"{self.name} does not hold blob {blob.digest}", {"digest": str(blob.digest)}
            )
        progress(size)


async def _counted(chunks: AsyncIterator[bytes], progress: Progress) -> AsyncIterator[bytes]:
    async with closing(chunks) as stream:
        async for chunk in stream:
            progress(len(chunk))
            yield chunk
