"""ACR's metadata API: repository, tag and manifest attributes, their lock flags, deletion.

Changing flags is allowed whatever the flags say (that is how an item is unlocked). Deleting
checks them inside the deleting transaction (metadata/locks.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from portside.metadata.artifacts import (
    BY_NAME,
    TIME_ASCENDING,
    TIME_DESCENDING,
    ArtifactStore,
)
from portside.metadata.errors import UnknownCursor
from portside.metadata.manifests import ManifestStore
from portside.metadata.records import (
    ManifestAttributes,
    RepositoryAttributes,
    RepositoryDeletion,
    TagAttributes,
)
from portside.metadata.tags import TagStore
from portside.metadata.webhooks import EventContext
from portside.oci.digests import Digest
from portside.services.content.listings import page_limit
from portside.services.content.locks import lock_errors
from portside.services.content.platforms import ManifestDetails, PlatformReader
from portside.services.content.targets import Target
from portside.services.errors import (
    ManifestUnknown,
    NameUnknown,
    ParameterInvalid,
    TagUnknown,
)
from portside.storage.base import StorageDriver

__all__ = ["MAX_MANIFEST_PAGE", "ArtifactService", "ManifestProperties"]

MAX_MANIFEST_PAGE = 1000
"""Most manifests one page lists (each may cost a config read the first time)."""

_ORDERS = {"none": BY_NAME, "timeasc": TIME_ASCENDING, "timedesc": TIME_DESCENDING}


@dataclass(frozen=True, slots=True)
class ManifestProperties:
    """A manifest's stored attributes and what its bytes (and config) say."""

    attributes: ManifestAttributes
    details: ManifestDetails

    @property
    def image_size(self) -> int:
        """The manifest's own size plus the sizes of the blobs it references (config, layers)."""
        return self.attributes.size + self.attributes.blob_size


class ArtifactService:
    """Attributes, flags and deletion for the /acr/v1 endpoints."""

    def __init__(
        self,
        artifacts: ArtifactStore,
        manifests: ManifestStore,
        tags: TagStore,
        platforms: PlatformReader,
        driver: StorageDriver,
    ) -> None:
        self._artifacts = artifacts
        self._manifests = manifests
        self._tags = tags
        self._platforms = platforms
        self._driver = driver

    async def repository(self, target: Target) -> RepositoryAttributes:
        """The repository's attributes; NameUnknown if there is none."""
        found = await self._artifacts.repository(target.registry_id, target.repository)
        if found is None:
            raise _name_unknown(target)
        return found

    async def update_repository(
        self, target: Target, changes: Mapping[str, bool]
    ) -> RepositoryAttributes:
        """Set flags of the repository; its attributes after the change."""
        if not await self._artifacts.update_repository(
            target.registry_id, target.repository, changes
        ):
            raise _name_unknown(target)
        return await self.repository(target)

    async def delete_repository(
        self, target: Target, context: EventContext | None = None
    ) -> RepositoryDeletion:
        """Delete the repository and everything in it; Locked if any lock forbids it."""
        with lock_errors():
            deleted = await self._artifacts.delete_repository(
                target.registry_id, target.repository, context
            )
        if deleted is None:
            raise _name_unknown(target)
        for upload_id in deleted.uploads:
            await self._driver.upload_delete(upload_id)
        return deleted

    async def tags(
        self,
        target: Target,
        last: str | None,
        n: int | None,
        orderby: str | None,
        digest: Digest | None,
    ) -> tuple[list[TagAttributes], bool]:
        """A page of listable tags and whether more follow."""
        limit = page_limit(n)
        try:
            found = await self._artifacts.tags(
                target.registry_id,
                target.repository,
                last=last,
                limit=limit + 1,
                order=_order(orderby),
                digest=None if digest is None else str(digest),
            )
        except UnknownCursor:
            raise _cursor_unknown("tag", last) from None
        if found is None:
            raise _name_unknown(target)
        return found[:limit], len(found) > limit

    async def tag(self, target: Target, tag: str) -> TagAttributes:
        """One tag's attributes; TagUnknown (or NameUnknown) if it is not there."""
        found = await self._artifacts.tag(target.registry_id, target.repository, tag)
        if found is None:
            raise await self._tag_unknown(target, tag)
        return found

    async def update_tag(
        self, target: Target, tag: str, changes: Mapping[str, bool]
    ) -> TagAttributes:
        """Set flags of a tag; its attributes after the change."""
        if not await self._artifacts.update_tag(
            target.registry_id, target.repository, tag, changes
        ):
            raise await self._tag_unknown(target, tag)
        return await self.tag(target, tag)

    async def delete_tag(
        self, target: Target, tag: str, context: EventContext | None = None
    ) -> None:
        """Delete a tag (its manifest stays); Locked if a lock forbids it."""
        with lock_errors():
            deleted = await self._tags.delete(target.registry_id, target.repository, tag, context)
        if not deleted:
            raise await self._tag_unknown(target, tag)

    async def manifests(
        self, target: Target, last: str | None, n: int | None, orderby: str | None
    ) -> tuple[list[ManifestProperties], bool]:
        """A page of listable manifests and whether more follow."""
        limit = page_limit(n, MAX_MANIFEST_PAGE)
        try:
            found = await self._artifacts.manifests(
                target.registry_id,
                target.repository,
                last=last,
                limit=limit + 1,
                order=_order(orderby),
            )
        except UnknownCursor:
            raise _cursor_unknown("manifest", last) from None
        if found is None:
            raise _name_unknown(target)
        return await self._properties(found[:limit]), len(found) > limit

    async def manifest(self, target: Target, digest: Digest) -> ManifestProperties:
        """One manifest's properties; ManifestUnknown (or NameUnknown) if it is not there."""
        found = await self._artifacts.manifest(target.registry_id, target.repository, str(digest))
        if found is None:
            raise await self._manifest_unknown(target, digest)
        return (await self._properties([found]))[0]

    async def update_manifest(
        self, target: Target, digest: Digest, changes: Mapping[str, bool]
    ) -> ManifestProperties:
        """Set flags of a manifest; its properties after the change."""
        if not await self._artifacts.update_manifest(
            target.registry_id, target.repository, str(digest), changes
        ):
            raise await self._manifest_unknown(target, digest)
        return await self.manifest(target, digest)

    async def delete_manifest(
        self, target: Target, digest: Digest, context: EventContext | None = None
    ) -> None:
        """Delete a manifest with its tags; Locked if a lock forbids it."""
        with lock_errors():
            deleted = await self._manifests.delete(
                target.registry_id, target.repository, str(digest), context
            )
        if not deleted:
            raise await self._manifest_unknown(target, digest)

    async def _properties(self, found: list[ManifestAttributes]) -> list[ManifestProperties]:
        details = await self._platforms.describe([(m.media_type, m.body) for m in found])
        return [ManifestProperties(m, d) for m, d in zip(found, details, strict=True)]

    async def _tag_unknown(self, target: Target, tag: str) -> Exception:
        if await self._artifacts.repository(target.registry_id, target.repository) is None:
            return _name_unknown(target)
        return TagUnknown(
            "the specified tag does not exist", {"name": target.repository, "tag": tag}
        )

    async def _manifest_unknown(self, target: Target, digest: Digest) -> Exception:
        if await self._artifacts.repository(target.registry_id, target.repository) is None:
            return _name_unknown(target)
        return ManifestUnknown(
            "manifest unknown to registry", {"name": target.repository, "digest": str(digest)}
        )


def _order(orderby: str | None) -> str:
    if orderby is None or orderby == "":
        return BY_NAME
    order = _ORDERS.get(orderby.lower())
    if order is None:
        raise ParameterInvalid(
            "orderby must be timedesc, timeasc or none", {"orderby": orderby[:40]}
        )
    return order


def _cursor_unknown(kind: str, last: str | None) -> ParameterInvalid:
    return ParameterInvalid(
        f"last names no {kind} of this repository, so a time-ordered page cannot continue "
        "after it; start the listing again",
        {"last": (last or "")[:140]},
    )


def _name_unknown(target: Target) -> NameUnknown:
    return NameUnknown("repository name not known to registry", {"name": target.repository})
