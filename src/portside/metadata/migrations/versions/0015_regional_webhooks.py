"""regional webhooks: webhooks.location and regional_events

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portside.metadata.columns

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("location", sa.String(length=63), nullable=True))
    op.create_table(
        "regional_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=63), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            portside.metadata.columns.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_regional_events_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["manifests.id"],
            name=op.f("fk_regional_events_manifest_id_manifests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_regional_events")),
        sa.UniqueConstraint("id", name=op.f("uq_regional_events_id")),
    )
    with op.batch_alter_table("regional_events", schema=None) as batch_op:
        batch_op.create_index("ix_regional_events_location_seq", ["location", "seq"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("regional_events")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("location")
