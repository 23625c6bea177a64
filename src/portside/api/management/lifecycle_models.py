"""Request and response bodies of the lifecycle routes: policies, retention rules, the recycle
bin and purge (camelCase JSON, as the other management models)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from portside.api.management.fields import RepositoryPattern
from portside.api.management.models import ApiModel
from portside.metadata.deletion import Removal
from portside.metadata.recycle_bin import DeletedManifest, DeletedRepository, DeletedTag
from portside.metadata.restore import Restored
from portside.metadata.retention import LifecyclePolicy, RetentionRule
from portside.services.lifecycle.purge import MAX_FILTERS
from portside.services.lifecycle.recycle import MAX_RESTORE_TAGS
from portside.services.lifecycle.retention import (
    MAX_KEEP_LAST,
    MAX_RETENTION_DAYS,
    MAX_SOFT_DELETE_DAYS,
    MIN_SOFT_DELETE_DAYS,
)

__all__ = [
    "DeletedManifestModel",
    "DeletedRepositoryModel",
    "DeletedTagModel",
    "Policies",
    "PurgeBody",
    "PurgeItem",
    "RestoreBody",
    "RestoreResult",
    "RetentionRuleCreate",
    "RetentionRuleModel",
    "TagConflictModel",
]


class Policies(ApiModel):
    """A registry's lifecycle policies; `null` days switch a policy off."""

    retention_untagged_days: int | None = Field(
        None,
        ge=0,
        le=MAX_RETENTION_DAYS,
        description="Delete manifests untagged for more than this many days (0: at the next "
        "run); null: off.",
    )
    soft_delete_days: int | None = Field(
        None,
        ge=MIN_SOFT_DELETE_DAYS,
        le=MAX_SOFT_DELETE_DAYS,
        description="Keep deleted manifests and tags restorable this many days; null: off.",
    )
    keep_orphan_referrers: bool = Field(
        False, description="Keep referrers (signatures, SBOMs) when their subject is deleted."
    )

    @classmethod
    def of(cls, policy: LifecyclePolicy) -> Policies:
        """From the store's record."""
        return cls.from_record(policy)

    def policy(self) -> LifecyclePolicy:
        """As the store's record."""
        return LifecyclePolicy(
            self.retention_untagged_days, self.soft_delete_days, self.keep_orphan_referrers
        )


class RetentionRuleCreate(ApiModel):
    """POST /registries/{name}/retention-rules."""

    repositories: str = RepositoryPattern
    tag_filter: str = Field(".*", min_length=1, max_length=300)
    keep_last: int = Field(ge=1, le=MAX_KEEP_LAST)


class RetentionRuleModel(ApiModel):
    """Keep the newest `keepLast` tags matching `tagFilter` in each repository matching
    `repositories` (`*`, a name or `prefix/*`)."""

    id: int
    repositories: str
    tag_filter: str
    keep_last: int
    creation_date: datetime

    @classmethod
    def of(cls, rule: RetentionRule) -> RetentionRuleModel:
        """From the store's record."""
        return cls.from_record(rule, creation_date=rule.created_at)


class DeletedRepositoryModel(ApiModel):
    """A repository with manifests in the recycle bin."""

    name: str
    deleted_manifests: int
    last_deleted_at: datetime
    expires_at: datetime = Field(description="When its last entry expires.")
    live: bool = Field(description="A repository of that name exists (again).")

    @classmethod
    def of(cls, found: DeletedRepository) -> DeletedRepositoryModel:
        """From the store's record."""
        return cls.from_record(found, deleted_manifests=found.manifests)


class DeletedManifestModel(ApiModel):
    """A manifest in the recycle bin, with the tags that named it when it was deleted."""

    repository: str
    digest: str
    media_type: str
    artifact_type: str | None = None
    size: int
    subject: str | None = None
    tags: list[str]
    created_at: datetime
    deleted_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, found: DeletedManifest) -> DeletedManifestModel:
        """From the store's record."""
        return cls.from_record(found)


class DeletedTagModel(ApiModel):
    """A tag deleted alone (restore its digest to bring it back)."""

    repository: str
    name: str
    digest: str
    deleted_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, found: DeletedTag) -> DeletedTagModel:
        """From the store's record."""
        return cls.from_record(found)


class RestoreBody(ApiModel):
    """POST /registries/{name}/deleted-manifests/restore: `tags` default to those it had
    and those deleted from it."""

    repository: str = Field(min_length=1, max_length=255)
    digest: str = Field(min_length=1, max_length=140)
    tags: list[str] | None = Field(None, max_length=MAX_RESTORE_TAGS)


class TagConflictModel(ApiModel):
    """A tag not restored: another manifest holds it now."""

    tag: str
    digest: str
    taken_by: str


class RestoreResult(ApiModel):
    """What a restore did."""

    repository: str
    digest: str
    restored_manifests: list[str] = Field(
        description="Manifests brought back from the bin (the one asked for first); empty if "
        "it was in the repository already."
    )
    tags: list[str] = Field(description="Tags that name it now among those asked for.")
    conflicts: list[TagConflictModel]

    @classmethod
    def of(cls, repository: str, restored: Restored) -> RestoreResult:
        """From the store's record."""
        return cls(
            repository=repository,
            digest=restored.digest,
            restored_manifests=list(restored.manifests),
            tags=list(restored.tags),
            conflicts=[TagConflictModel.from_record(c) for c in restored.conflicts],
        )


class PurgeBody(ApiModel):
    """POST /registries/{name}/purge, as acr purge's options."""

    filters: list[str] = Field(min_length=1, max_length=MAX_FILTERS)
    ago: str = Field(min_length=1, max_length=40, description="Such as 2d3h15m; 0: every age.")
    keep: int = Field(0, ge=0, le=MAX_KEEP_LAST)
    untagged: bool = False
    dry_run: bool = False


class PurgeItem(ApiModel):
    """A tag or manifest the purge deleted (`deleted`), would delete (`wouldDelete`, in a
    dry run), or left because of a lock (`skipped`, with `lock`)."""

    repository: str
    kind: Literal["tag", "manifest"]
    digest: str
    tags: list[str]
    status: Literal["deleted", "wouldDelete", "skipped"]
    reason: str
    lock: str | None = None

    @classmethod
    def of(cls, removal: Removal, dry_run: bool) -> PurgeItem:
        """From a removal of the purge's result."""
        if removal.skipped is not None:
            status: Literal["deleted", "wouldDelete", "skipped"] = "skipped"
        else:
            status = "wouldDelete" if dry_run else "deleted"
        return cls(
            repository=removal.repository,
            kind="tag" if removal.kind == "tag" else "manifest",
            digest=removal.digest,
            tags=list(removal.tags),
            status=status,
            reason=removal.reason,
            lock=removal.skipped,
        )
