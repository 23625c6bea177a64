"""Manifests: push with verification of everything referenced, pull, delete, referrers."""

from __future__ import annotations

from dataclasses import dataclass

from portside.metadata.manifests import ManifestStore, NewManifest
from portside.metadata.records import ManifestRecord, ReferrerRecord
from portside.metadata.repositories import RepositoryStore
from portside.metadata.tags import TagStore
from portside.metadata.webhooks import EventContext
from portside.oci.charts import (
    CHART_CONFIG_MAX_BYTES,
    HELM_CONFIG_MEDIA_TYPE,
    ChartRef,
    chart_from_config,
)
from portside.oci.digests import Digest
from portside.oci.errors import DigestInvalid
from portside.oci.manifests import ParsedManifest, parse_manifest
from portside.oci.names import validate_tag
from portside.services.content.locks import lock_errors
from portside.services.content.targets import Target
from portside.services.errors import ManifestBlobUnknown, ManifestUnknown, NameUnknown
from portside.storage.base import StorageDriver
from portside.storage.layout import blob_key

__all__ = ["ManifestService", "PushedManifest", "Reference"]


@dataclass(frozen=True, slots=True)
class Reference:
    """A manifest reference from a URL: exactly one of a tag or a digest."""

    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """A digest if it contains ':', else a tag; raises DigestInvalid or TagInvalid."""
        if ":" in text:
            return cls(digest=Digest.parse(text))
        return cls(tag=validate_tag(text))


@dataclass(frozen=True, slots=True)
class PushedManifest:
    """What a client learns after a push."""

    digest: Digest
    subject: Digest | None


class ManifestService:
    """Manifest storage rules."""

    def __init__(
        self,
        manifests: ManifestStore,
        tags: TagStore,
        repositories: RepositoryStore,
        *,
        driver: StorageDriver | None = None,
    ) -> None:
        """`driver` reads a Helm chart's config blob for `chart_push` events (without it
        charts are named by their repository and tag)."""
        self._manifests = manifests
        self._tags = tags
        self._repositories = repositories
        self._driver = driver

    async def get(self, target: Target, reference: Reference) -> ManifestRecord:
        """The manifest a tag or digest names; Locked if a read lock forbids pulling it."""
        with lock_errors():
            record = await self._manifests.get(
                target.registry_id,
                target.repository,
                digest=None if reference.digest is None else str(reference.digest),
                tag=reference.tag,
            )
        if record is None:
            await self._require_repository(target)
            raise ManifestUnknown(
                "manifest unknown to registry",
                {"reference": reference.tag or str(reference.digest)},
            )
        return record

    async def put(
        self,
        target: Target,
        reference: Reference,
        body: bytes,
        content_type: str | None,
        context: EventContext | None = None,
        *,
        lazy_references: bool = False,
    ) -> PushedManifest:
        """Verify and store a manifest; a tag reference moves that tag to it. Webhook events
        record `context` as their request and actor. With `lazy_references` (the pull-through
        cache) the blobs and child manifests it names need not be stored yet.

        Locked if the repository (or the tag, were it to move) is write-disabled; TagImmutable
        if the registry's tags are immutable and the tag would move.
        """
        algorithm = reference.digest.algorithm if reference.digest else "sha256"
        digest = Digest.of(body, algorithm)
        if reference.digest is not None and reference.digest != digest:
            raise DigestInvalid(f"manifest digest is {digest}, not {reference.digest}")
        parsed = parse_manifest(body, content_type)
        new = NewManifest(
            digest=str(digest),
            media_type=parsed.media_type,
            artifact_type=parsed.artifact_type,
            body=body,
            subject=None if parsed.subject is None else str(parsed.subject.digest),
            annotations=parsed.annotations,
            blobs=tuple(str(d.digest) for d in parsed.blobs),
            children=tuple(str(d.digest) for d in parsed.children),
            chart=await self._chart(target, parsed, reference.tag),
        )
        with lock_errors():
            missing = await self._manifests.put(
                target.registry_id,
                target.repository,
                new,
                reference.tag,
                context,
                lazy_references=lazy_references,
            )
        if missing:
            raise ManifestBlobUnknown(
                f"manifest references {len(missing)} unknown blob(s) or manifest(s)",
                {"digests": missing[:20]},
            )
        return PushedManifest(digest, None if parsed.subject is None else parsed.subject.digest)

    async def _chart(
        self, target: Target, parsed: ParsedManifest, tag: str | None
    ) -> ChartRef | None:
        """The Helm chart a manifest pushed by tag holds (None for anything else, at no cost):
        named by its config blob, read up to 64 KiB; by its repository and tag if that blob
        cannot be read or parsed, since a webhook payload must never fail a push."""
        config = parsed.config
        if tag is None or config is None or config.media_type != HELM_CONFIG_MEDIA_TYPE:
            return None
        data: bytes | None = None
        if self._driver is not None and config.size <= CHART_CONFIG_MAX_BYTES:
            data = await self._read_small(blob_key(config.digest), config.size)
        return chart_from_config(data, target.repository, tag)

    async def _read_small(self, key: str, size: int) -> bytes | None:
        """Up to `size` bytes of a stored object; None if they cannot be read."""
        assert self._driver is not None
        chunks = bytearray()
        try:
            async for chunk in self._driver.read(key, 0, size):
                chunks += chunk
        except Exception:  # absent (a lazy cache), storage down: the push goes on
            return None
        return bytes(chunks[:size])

    async def delete(
        self, target: Target, reference: Reference, context: EventContext | None = None
    ) -> None:
        """Delete by digest (with its tags) or by tag (the tag only); Locked if locks forbid."""
        with lock_errors():
            if reference.digest is not None:
                deleted = await self._manifests.delete(
                    target.registry_id, target.repository, str(reference.digest), context
                )
            else:
                assert reference.tag is not None
                deleted = await self._tags.delete(
                    target.registry_id, target.repository, reference.tag, context
                )
        if not deleted:
            await self._require_repository(target)
            raise ManifestUnknown(
                "manifest unknown to registry",
                {"reference": reference.tag or str(reference.digest)},
            )

    async def referrers(
        self, target: Target, subject: Digest, artifact_type: str | None
    ) -> list[ReferrerRecord]:
        """Manifests whose subject is `subject`; an unknown subject has none (not an error)."""
        return await self._manifests.referrers(
            target.registry_id, target.repository, str(subject), artifact_type
        )

    async def _require_repository(self, target: Target) -> None:
        if not await self._repositories.exists(target.registry_id, target.repository):
            raise NameUnknown("repository name not known to registry", {"name": target.repository})
