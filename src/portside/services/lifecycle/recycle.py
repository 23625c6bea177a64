"""The recycle bin as the management API offers it: listing and restoring soft-deleted items.

Restoring answers what came back and which tags could not be applied because another
manifest holds them now (metadata/restore.py); it is refused (Conflict) when the repository
is write-disabled, something the entry needs is gone, or the storage quota would be exceeded.
"""

from __future__ import annotations

from collections.abc import Sequence

from portside.metadata.errors import LockViolation, QuotaViolation, RestoreBlocked
from portside.metadata.recycle_bin import (
    DeletedManifest,
    DeletedRepository,
    DeletedTag,
    RecycleBinStore,
)
from portside.metadata.restore import Restored, RestoreStore
from portside.oci.digests import Digest
from portside.oci.errors import OciValueError
from portside.oci.names import validate_name, validate_tag
from portside.services.management.errors import Conflict, Invalid, NotFound

__all__ = ["MAX_RESTORE_TAGS", "RecycleBin", "checked_repository"]

MAX_RESTORE_TAGS = 100
"""Most tags one restore may name."""


def checked_repository(name: str) -> str:
    """`name` if it is a valid repository name; Invalid otherwise."""
    try:
        return validate_name(name)
    except OciValueError as error:
        raise Invalid(str(error)) from None


class RecycleBin:
    """Lists and restores what the recycle bin holds."""

    def __init__(self, store: RecycleBinStore, restore: RestoreStore) -> None:
        self._store = store
        self._restore = restore

    async def repositories(
        self, registry_id: int, *, include_live: bool = False
    ) -> list[DeletedRepository]:
        """Deleted repositories with manifests in the bin (all with entries, if asked)."""
        return await self._store.repositories(registry_id, include_live=include_live)

    async def manifests(self, registry_id: int, repository: str) -> list[DeletedManifest]:
        """A repository's manifests in the bin, most recently deleted first."""
        return await self._store.manifests(registry_id, checked_repository(repository))

    async def tags(self, registry_id: int, repository: str) -> list[DeletedTag]:
        """A repository's tags deleted alone, most recently deleted first."""
        return await self._store.tags(registry_id, checked_repository(repository))

    async def restore(
        self, registry_id: int, repository: str, digest: str, tags: Sequence[str] | None
    ) -> Restored:
        """Bring a manifest (or the tags deleted from it) back; see the module docstring."""
        checked_repository(repository)
        try:
            parsed = str(Digest.parse(digest))
            names = None if tags is None else [validate_tag(tag) for tag in tags]
        except OciValueError as error:
            raise Invalid(str(error)) from None
        if names is not None and len(names) > MAX_RESTORE_TAGS:
            raise Invalid(f"at most {MAX_RESTORE_TAGS} tags")
        try:
            restored = await self._restore.restore(registry_id, repository, parsed, names)
        except (LockViolation, RestoreBlocked, QuotaViolation) as error:
            raise Conflict(f"cannot restore: {error}") from None
        if restored is None:
            raise NotFound(f"manifest {parsed} is neither in {repository!r} nor in its recycle bin")
        return restored
