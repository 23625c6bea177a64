"""lifecycle: usage, quotas, retention, recycle bin

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 08:29:30.372026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portside.metadata.columns

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column(
            "expires_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "deleted_manifests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column(
            "repository",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("digest", sa.String(length=140), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("artifact_type", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("subject_digest", sa.String(length=140), nullable=True),
        sa.Column("annotations", sa.Text(), nullable=True),
        sa.Column(
            "created_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("tags", sa.Text(), server_default="[]", nullable=False),
        sa.Column(
            "deleted_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_deleted_manifests_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deleted_manifests")),
    )
    with op.batch_alter_table("deleted_manifests", schema=None) as batch_op:
        batch_op.create_index("ix_deleted_manifests_expires_at", ["expires_at"], unique=False)
        batch_op.create_index(
            "ix_deleted_manifests_repository", ["registry_id", "repository"], unique=False
        )

    op.create_table(
        "deleted_tags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column(
            "repository",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "name",
            sa.String(length=128).with_variant(sa.String(length=128, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("digest", sa.String(length=140), nullable=False),
        sa.Column(
            "deleted_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_deleted_tags_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deleted_tags")),
    )
    with op.batch_alter_table("deleted_tags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deleted_tags_repository", ["registry_id", "repository"], unique=False
        )

    op.create_table(
        "registry_blobs",
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=140), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_registry_blobs_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("registry_id", "digest", name=op.f("pk_registry_blobs")),
    )
    op.create_table(
        "retention_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("repositories", sa.String(length=300), server_default="*", nullable=False),
        sa.Column("tag_filter", sa.String(length=300), server_default=".*", nullable=False),
        sa.Column("keep_last", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_retention_rules_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_rules")),
        sa.UniqueConstraint(
            "registry_id",
            "repositories",
            "tag_filter",
            name=op.f("uq_retention_rules_registry_id_repositories_tag_filter"),
        ),
    )
    op.create_table(
        "deleted_manifest_blobs",
        sa.Column("deleted_manifest_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=140), nullable=False),
        sa.ForeignKeyConstraint(
            ["deleted_manifest_id"],
            ["deleted_manifests.id"],
            name=op.f("fk_deleted_manifest_blobs_deleted_manifest_id_deleted_manifests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "deleted_manifest_id", "digest", name=op.f("pk_deleted_manifest_blobs")
        ),
    )
    with op.batch_alter_table("deleted_manifest_blobs", schema=None) as batch_op:
        batch_op.create_index("ix_deleted_manifest_blobs_digest", ["digest"], unique=False)

    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "doomed_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=True
            )
        )

    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "untagged_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=True
            )
        )

    with op.batch_alter_table("registries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_untagged_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("soft_delete_days", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "keep_orphan_referrers", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.add_column(sa.Column("quota_storage_bytes", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("quota_repositories", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("quota_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("quota_scope_maps", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("quota_webhooks", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("storage_bytes", sa.BigInteger(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("storage_bytes", sa.BigInteger(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("repository_blobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "touched_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=True
            )
        )

    # Counters and timestamps for what is already stored.
    op.execute(
        "INSERT INTO registry_blobs (registry_id, digest, links) "
        "SELECT r.registry_id, rb.digest, COUNT(*) FROM repository_blobs rb "
        "JOIN repositories r ON r.id = rb.repository_id GROUP BY r.registry_id, rb.digest"
    )
    op.execute(
        "UPDATE repositories SET storage_bytes = COALESCE((SELECT SUM(b.size) "
        "FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest "
        "WHERE rb.repository_id = repositories.id), 0)"
    )
    op.execute(
        "UPDATE registries SET storage_bytes = COALESCE((SELECT SUM(b.size) "
        "FROM registry_blobs x JOIN blobs b ON b.digest = x.digest "
        "WHERE x.registry_id = registries.id), 0)"
    )
    op.execute(
        "UPDATE manifests SET untagged_at = created_at WHERE NOT EXISTS "
        "(SELECT 1 FROM tags t WHERE t.manifest_id = manifests.id)"
    )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("repository_blobs", schema=None) as batch_op:
        batch_op.drop_column("touched_at")

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_column("storage_bytes")

    with op.batch_alter_table("registries", schema=None) as batch_op:
        batch_op.drop_column("storage_bytes")
        batch_op.drop_column("quota_webhooks")
        batch_op.drop_column("quota_scope_maps")
        batch_op.drop_column("quota_tokens")
        batch_op.drop_column("quota_repositories")
        batch_op.drop_column("quota_storage_bytes")
        batch_op.drop_column("keep_orphan_referrers")
        batch_op.drop_column("soft_delete_days")
        batch_op.drop_column("retention_untagged_days")

    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.drop_column("untagged_at")

    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.drop_column("doomed_at")

    with op.batch_alter_table("deleted_manifest_blobs", schema=None) as batch_op:
        batch_op.drop_index("ix_deleted_manifest_blobs_digest")

    op.drop_table("deleted_manifest_blobs")
    op.drop_table("retention_rules")
    op.drop_table("registry_blobs")
    with op.batch_alter_table("deleted_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_deleted_tags_repository")

    op.drop_table("deleted_tags")
    with op.batch_alter_table("deleted_manifests", schema=None) as batch_op:
        batch_op.drop_index("ix_deleted_manifests_repository")
        batch_op.drop_index("ix_deleted_manifests_expires_at")

    op.drop_table("deleted_manifests")
    op.drop_table("leases")
