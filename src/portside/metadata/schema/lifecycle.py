"""Tables of the lifecycle: retention rules, the recycle bin, and job leases."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from portside.metadata.columns import UTCDateTime, lexical, metadata

__all__ = [
    "deleted_manifest_blobs",
    "deleted_manifests",
    "deleted_tags",
    "leases",
    "retention_rules",
]

retention_rules = Table(
    "retention_rules",
    metadata,
    # Keep the newest `keep_last` tags matching `tag_filter` in each repository matching
    # `repositories`; older matching tags are deleted by the retention job.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("repositories", String(300), nullable=False, server_default="*"),
    Column("tag_filter", String(300), nullable=False, server_default=".*"),
    Column("keep_last", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("registry_id", "repositories", "tag_filter"),
)

deleted_manifests = Table(
    "deleted_manifests",
    metadata,
    # The recycle bin: a soft-deleted manifest, restorable until `expires_at`.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("repository", lexical(255), nullable=False),
    Column("digest", String(140), nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255)),
    Column("size", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("subject_digest", String(140)),
    Column("annotations", Text),
    Column("created_at", UTCDateTime, nullable=False),
    # JSON list of the tags that pointed at it when it was deleted.
    Column("tags", Text, nullable=False, server_default="[]"),
    Column("deleted_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_deleted_manifests_repository", "registry_id", "repository"),
    Index("ix_deleted_manifests_expires_at", "expires_at"),
)

deleted_manifest_blobs = Table(
    "deleted_manifest_blobs",
    metadata,
    # Blobs a recycled manifest references: the collector keeps them until it expires.
    Column(
        "deleted_manifest_id",
        ForeignKey("deleted_manifests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("digest", String(140), primary_key=True),
    Index("ix_deleted_manifest_blobs_digest", "digest"),
)

deleted_tags = Table(
    "deleted_tags",
    metadata,
    # A soft-deleted tag (its manifest still exists, or sits in the recycle bin).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("repository", lexical(255), nullable=False),
    Column("name", lexical(128), nullable=False),
    Column("digest", String(140), nullable=False),
    Column("deleted_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_deleted_tags_repository", "registry_id", "repository"),
)

leases = Table(
    "leases",
    metadata,
    # Cluster-wide mutual exclusion for background jobs ("gc"): one holder at a time,
    # until it releases the lease or it expires (a crashed holder).
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
