"""access control and locks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 07:46:23.215484
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portside.metadata.columns

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_type", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint(
            "owner_type", "owner_id", "name", name=op.f("uq_credentials_owner_type_owner_id_name")
        ),
    )
    op.create_table(
        "service_principals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "created_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_principals")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=8), nullable=False),
        sa.Column("private_pem", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "retired_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "role_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("principal_type", sa.String(length=16), nullable=False),
        sa.Column("principal", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("repositories", sa.String(length=300), server_default="*", nullable=False),
        sa.Column(
            "created_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_role_assignments_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_assignments")),
        sa.UniqueConstraint(
            "registry_id",
            "principal_type",
            "principal",
            "role",
            "repositories",
            name=op.f("uq_role_assignments_registry_id_principal_type_principal_role_repositories"),
        ),
    )
    with op.batch_alter_table("role_assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_role_assignments_principal", ["principal_type", "principal"], unique=False
        )

    op.create_table(
        "scope_maps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("system", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_scope_maps_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scope_maps")),
        sa.UniqueConstraint("registry_id", "name", name=op.f("uq_scope_maps_registry_id_name")),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("scope_map_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "created_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_tokens_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scope_map_id"], ["scope_maps.id"], name=op.f("fk_tokens_scope_map_id_scope_maps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("registry_id", "name", name=op.f("uq_tokens_registry_id_name")),
    )
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delete_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("write_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("read_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("list_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )

    with op.batch_alter_table("registries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sku", sa.String(length=16), server_default="Standard", nullable=False)
        )
        batch_op.add_column(
            sa.Column("admin_enabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("anonymous_pull", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("immutable_tags", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("auth_version", sa.BigInteger(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("anonymous_pull", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("delete_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("write_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("read_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("list_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )

    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delete_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("write_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("read_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("list_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_column("list_enabled")
        batch_op.drop_column("read_enabled")
        batch_op.drop_column("write_enabled")
        batch_op.drop_column("delete_enabled")

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_column("list_enabled")
        batch_op.drop_column("read_enabled")
        batch_op.drop_column("write_enabled")
        batch_op.drop_column("delete_enabled")
        batch_op.drop_column("anonymous_pull")

    with op.batch_alter_table("registries", schema=None) as batch_op:
        batch_op.drop_column("auth_version")
        batch_op.drop_column("immutable_tags")
        batch_op.drop_column("anonymous_pull")
        batch_op.drop_column("admin_enabled")
        batch_op.drop_column("sku")

    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.drop_column("list_enabled")
        batch_op.drop_column("read_enabled")
        batch_op.drop_column("write_enabled")
        batch_op.drop_column("delete_enabled")

    op.drop_table("tokens")
    op.drop_table("scope_maps")
    with op.batch_alter_table("role_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_role_assignments_principal")

    op.drop_table("role_assignments")
    op.drop_table("signing_keys")
    op.drop_table("service_principals")
    op.drop_table("credentials")
