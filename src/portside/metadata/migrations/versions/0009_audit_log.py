"""the audit log

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portside.metadata.columns

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("registry", sa.String(length=64), server_default="", nullable=False),
        sa.Column("registry_uid", sa.String(length=32), nullable=True),
        sa.Column("identity_kind", sa.String(length=16), nullable=False),
        sa.Column("identity_id", sa.String(length=256), server_default="", nullable=False),
        sa.Column("client", sa.String(length=64), server_default="", nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=512), server_default="", nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=128), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_registry_uid_at", ["registry_uid", "at", "id"])
        batch_op.create_index(
            "ix_audit_log_registry_uid_identity_id", ["registry_uid", "identity_id"]
        )
        batch_op.create_index("ix_audit_log_registry_uid_action", ["registry_uid", "action"])
        batch_op.create_index("ix_audit_log_at", ["at"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("audit_log")
