"""Table definitions. Schema changes go through Alembic revisions in metadata/migrations.

registries ─< repositories ─< repository_blobs >─ blobs
    │             │
                  ├─< manifests ─< manifest_blobs      (digests a manifest references)
                  │       │     └─< manifest_children   (manifests an index references)
                  │       └── subject_digest            (the referrers index)
                  ├─< tags >─ manifests
    │             └─< uploads
    ├─< scope_maps ─< tokens          (repository-scoped tokens)
    ├─< role_assignments              (service principals, federated subjects and groups)
    └─< credentials                   (argon2id hashes: admin user, tokens; service principal
                                       secrets and the deployment administrator have no registry)
service_principals, signing_keys      (deployment-wide)

Repositories, manifests and tags carry ACR's four lock flags (`*_enabled`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import false as sql_false
from sqlalchemy import true as sql_true
from sqlalchemy.engine import Dialect

__all__ = ["metadata"]


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Attach UTC to naive values read back."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def _lexical(length: int) -> String:
    """A name column that sorts and compares by code point, as the distribution spec's
    "lexical order" requires: SQLite does by default; PostgreSQL needs the "C" collation, or a
    database created with a natural-language locale would page tags and the catalog in its
    own order."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def _locks() -> list[Column[bool]]:
    """ACR's changeable attributes: what may be done to a repository, manifest or tag."""
    return [
        Column(f"{flag}_enabled", Boolean, nullable=False, server_default=sql_true())
        for flag in ("delete", "write", "read", "list")
    ]


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

registries = Table(
    "registries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sku", String(16), nullable=False, server_default="Standard"),
    Column("admin_enabled", Boolean, nullable=False, server_default=sql_false()),
    Column("anonymous_pull", Boolean, nullable=False, server_default=sql_false()),
    Column("immutable_tags", Boolean, nullable=False, server_default=sql_false()),
    # Bumped by every change to who may do what in this registry (credentials, tokens, scope
    # maps, role assignments, settings): access tokens carry the version they were issued at,
    # and a token from an older version has its grant re-evaluated, so changes apply at once.
    Column("auth_version", BigInteger, nullable=False, server_default="0"),
)

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("name", _lexical(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Bumped in every transaction that adds, moves or removes a tag: lets a process keep the
    # tag list cached and still answer exactly what the database holds (one cheap read).
    Column("tags_version", BigInteger, nullable=False, server_default="0"),
    Column("anonymous_pull", Boolean, nullable=False, server_default=sql_false()),
    *_locks(),
    UniqueConstraint("registry_id", "name"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("digest", String(140), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
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
    Index("ix_repository_blobs_digest", "digest"),
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
    *_locks(),
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
    Column("name", _lexical(128), primary_key=True),
    Column("manifest_id", ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    *_locks(),
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

service_principals = Table(
    "service_principals",
    metadata,
    # The application id: a UUID, used as the user name.
    Column("id", String(36), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

role_assignments = Table(
    "role_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    # "sp" (a service principal id), "subject" or "group" (claims of a federated token).
    Column("principal_type", String(16), nullable=False),
    Column("principal", String(255), nullable=False),
    Column("role", String(32), nullable=False),
    # "*" for the whole registry, else a repository name or `prefix/*`.
    Column("repositories", String(300), nullable=False, server_default="*"),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("registry_id", "principal_type", "principal", "role", "repositories"),
    Index("ix_role_assignments_principal", "principal_type", "principal"),
)

scope_maps = Table(
    "scope_maps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    # JSON list of ACR action strings: `repositories/<pattern>/content/read`.
    Column("actions", Text, nullable=False),
    Column("system", Boolean, nullable=False, server_default=sql_false()),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("registry_id", "name"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("scope_map_id", ForeignKey("scope_maps.id"), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=sql_true()),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("registry_id", "name"),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # "admin" (owner: the registry id), "token" (a token id), "sp" (a service principal id) or
    # "deployment" (owner: "admin", the management API's administrator).
    Column("owner_type", String(16), nullable=False),
    Column("owner_id", String(64), nullable=False),
    # "password"/"password2" (admin user), "password1"/"password2" (tokens), a secret id (sp).
    Column("name", String(64), nullable=False),
    Column("hash", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    UniqueConstraint("owner_type", "owner_id", "name"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(8), nullable=False),
    # Shared by every node so that any node verifies what another signed. Protect the database
    # (and its backups) as you would the key itself.
    Column("private_pem", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Set when a newer key took over signing; the key still verifies until it is removed.
    Column("retired_at", UTCDateTime),
)
