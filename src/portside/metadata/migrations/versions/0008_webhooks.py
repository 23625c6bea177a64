"""webhooks and their outbox of deliveries

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portside.metadata.columns

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, portside.metadata.columns.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("actions", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=300), server_default="", nullable=False),
        sa.Column("headers", sa.Text(), server_default="{}", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        _when("created_at", False),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_webhooks_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("registry_id", "name", name=op.f("uq_webhooks_registry_id_name")),
    )
    op.create_table(
        "webhook_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        _when("next_attempt_at", False),
        _when("retry_from", False),
        _when("last_attempt_at", True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_response", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_duration_ms", sa.Integer(), nullable=True),
        _when("created_at", False),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_events_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("id", name=op.f("uq_webhook_events_id")),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_events_webhook_state", ["webhook_id", "state", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_webhook_events_state_due", ["state", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("webhook_events")
    op.drop_table("webhooks")
