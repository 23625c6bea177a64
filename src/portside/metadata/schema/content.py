"""Tables of registry content: registries, repositories, blobs, manifests, tags, uploads.

Repositories, manifests and tags carry ACR's four lock flags (`*_enabled`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from sqlalchemy import false as sql_false

from portside.metadata.columns import UTCDateTime, lexical, lock_columns, metadata

__all__ = [
    "blobs",
    "manifest_blobs",
    "manifest_children",
    "manifests",
    "registries",
    "registry_blobs",
    "repositories",
    "repository_blobs",
    "tags",
    "uploads",
]

registries = Table(
    "registries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    # Random, set at creation, never reused (row ids may be, and names are): tokens carry it, so
    # a registry deleted and created again under the same name accepts none of the old tokens.
    Column("uid", String(32), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sku", String(16), nullable=False, server_default="Standard"),
    Column("admin_enabled", Boolean, nullable=False, server_default=sql_false()),
    Column("anonymous_pull", Boolean, nullable=False, server_default=sql_false()),
    Column("immutable_tags", Boolean, nullable=False, server_default=sql_false()),
    # Bumped by every change to who may do what in this registry (credentials, tokens, scope
    # maps, role assignments, settings): access tokens carry the version they were issued at,
    # and a token from an older version has its grant re-evaluated, so changes apply at once.
    Column("auth_version", BigInteger, nullable=False, server_default="0"),
    # Lifecycle policies (None: off). Untagged manifests older than this many days are
    # deleted; deleted manifests and tags stay restorable this many days.
    Column("retention_untagged_days", Integer),
    Column("soft_delete_days", Integer),
    # Keep referrers (signatures, SBOMs) whose subject manifest was deleted.
    Column("keep_orphan_referrers", Boolean, nullable=False, server_default=sql_false()),
    # Quotas (None: the SKU's default).
    Column("quota_storage_bytes", BigInteger),
    Column("quota_repositories", Integer),
    Column("quota_tokens", Integer),
    Column("quota_scope_maps", Integer),
    Column("quota_webhooks", Integer),
    # Request rate limits per minute (None: the SKU's default; 0: unlimited), see
    # services/access/throttling.py.
    Column("read_ops_per_minute", Integer),
    Column("write_ops_per_minute", Integer),
    # Bytes of distinct blobs linked anywhere in the registry (registry_blobs), kept exact
    # in the transactions that link and unlink.
    Column("storage_bytes", BigInteger, nullable=False, server_default="0"),
    # The registry's place among the loopback login servers of a server listening on loopback
    # only: slot N answers on the N-th port after the main one (docs/operations.md). Unique, so
    # two registries never share a port; None for the default registry, which needs none.
    Column("login_slot", Integer, unique=True),
)

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("name", lexical(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Bumped in every transaction that adds, moves or removes a tag: lets a process keep the
    # tag list cached and still answer exactly what the database holds (one cheap read).
    Column("tags_version", BigInteger, nullable=False, server_default="0"),
    Column("anonymous_pull", Boolean, nullable=False, server_default=sql_false()),
    # Bytes of the blobs linked to this repository (a layer shared by two repositories
    # counts in both; the registry's total counts it once).
    Column("storage_bytes", BigInteger, nullable=False, server_default="0"),
    *lock_columns(),
    UniqueConstraint("registry_id", "name"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("digest", String(140), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Set by the collector when it found the blob unlinked; cleared by any new link. Only
    # a doomed, still unlinked blob is deleted (bytes, then row, under the row's lock).
    Column("doomed_at", UTCDateTime),
)

repository_blobs = Table(
    "repository_blobs",
    metadata,
    Column(
        "repository_id",
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("digest", ForeignKey("blobs.digest"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    # Refreshed when the link is used (upload, mount, HEAD/GET) after half the collector's
    # grace period: a link in use is never collected, even if no manifest references it yet.
    Column("touched_at", UTCDateTime),
    Index("ix_repository_blobs_digest", "digest"),
)

registry_blobs = Table(
    "registry_blobs",
    metadata,
    # How many repositories of the registry link the blob: its bytes count once per registry.
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(140), primary_key=True),
    Column("links", Integer, nullable=False),
)

manifests = Table(
    "manifests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(140), nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255)),
    Column("size", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("subject_digest", String(140)),
    Column("annotations", Text),
    Column("created_at", UTCDateTime, nullable=False),
    # When it last lost its last tag (or was pushed without one); None while tagged. The
    # untagged-manifest retention counts from here.
    Column("untagged_at", UTCDateTime),
    *lock_columns(),
    UniqueConstraint("repository_id", "digest"),
    Index("ix_manifests_subject", "repository_id", "subject_digest"),
)

manifest_blobs = Table(
    "manifest_blobs",
    metadata,
    Column("manifest_id", ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(140), primary_key=True),
    Index("ix_manifest_blobs_digest", "digest"),
)

manifest_children = Table(
    "manifest_children",
    metadata,
    Column("manifest_id", ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    Column("child_digest", String(140), primary_key=True),
    Index("ix_manifest_children_child", "child_digest"),
)

tags = Table(
    "tags",
    metadata,
    Column(
        "repository_id",
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", lexical(128), primary_key=True),
    Column("manifest_id", ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    *lock_columns(),
    Index("ix_tags_manifest", "manifest_id"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Hash state after `hashed_size` bytes, so that any process can continue the digest.
    Column("hashed_size", BigInteger, nullable=False, server_default="0"),
    Column("hash_state", LargeBinary),
    Index("ix_uploads_updated_at", "updated_at"),
)
