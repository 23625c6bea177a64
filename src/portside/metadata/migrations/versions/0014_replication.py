"""geo-replication: replications and blob_locations

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portside.metadata.columns

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, portside.metadata.columns.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "replications",
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=63), nullable=False),
        sa.Column(
            "region_endpoint_enabled", sa.Boolean(), server_default=sa.true(), nullable=False
        ),
        _when("created_at", False),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_replications_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("registry_id", "location", name=op.f("pk_replications")),
    )
    with op.batch_alter_table("replications", schema=None) as batch_op:
        batch_op.create_index("ix_replications_location", ["location"], unique=False)
    op.create_table(
        "blob_locations",
        sa.Column("digest", sa.String(length=140), nullable=False),
        sa.Column("location", sa.String(length=63), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        _when("next_attempt_at", True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _when("updated_at", False),
        sa.ForeignKeyConstraint(
            ["digest"],
            ["blobs.digest"],
            name=op.f("fk_blob_locations_digest_blobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", "location", name=op.f("pk_blob_locations")),
    )
    with op.batch_alter_table("blob_locations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_blob_locations_location_state", ["location", "state"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("blob_locations")
    op.drop_table("replications")
