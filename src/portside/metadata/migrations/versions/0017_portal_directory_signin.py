"""portal directory sign-in: issuers' portal clients, pending sign-ins, directory sessions

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-06 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portside.metadata.columns

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("trusted_issuers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("portal_client_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("portal_secret_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("portal_secret_key", sa.String(length=64), nullable=True))
    op.create_table(
        "portal_signin_states",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("verifier", sa.String(length=128), nullable=False),
        sa.Column("next", sa.String(length=2048), server_default="", nullable=False),
        sa.Column(
            "expires_at", portside.metadata.columns.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_signin_states")),
    )
    op.create_index(
        "ix_portal_signin_states_expires_at", "portal_signin_states", ["expires_at"], unique=False
    )
    op.create_table(
        "portal_directory_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("groups", sa.Text(), server_default="[]", nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["portal_sessions.id"],
            name=op.f("fk_portal_directory_sessions_session_id_portal_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_portal_directory_sessions")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("portal_directory_sessions")
    op.drop_index("ix_portal_signin_states_expires_at", table_name="portal_signin_states")
    op.drop_table("portal_signin_states")
    with op.batch_alter_table("trusted_issuers", schema=None) as batch_op:
        batch_op.drop_column("portal_secret_key")
        batch_op.drop_column("portal_secret_sealed")
        batch_op.drop_column("portal_client_id")
