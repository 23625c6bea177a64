"""request rate limits per registry, request counts and failed logins shared by all nodes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("registries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("read_ops_per_minute", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("write_ops_per_minute", sa.Integer(), nullable=True))
    op.create_table(
        "request_counts",
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("claimed", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_request_counts_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "registry_id", "kind", "window_start", name=op.f("pk_request_counts")
        ),
    )
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("locked_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_failures_expires_ms"), ["expires_ms"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("login_failures")
    op.drop_table("request_counts")
    with op.batch_alter_table("registries", schema=None) as batch_op:
        batch_op.drop_column("write_ops_per_minute")
        batch_op.drop_column("read_ops_per_minute")
