"""artifact cache rules and cached-tag checks

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 04:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portside.metadata.columns

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, portside.metadata.columns.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "cache_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("source_repo", sa.String(length=300), nullable=False),
        sa.Column("target_repo", sa.String(length=300), nullable=False),
        sa.Column("credential_set", sa.String(length=50), nullable=True),
        sa.Column("ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("allow_push", sa.Boolean(), server_default=sa.false(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_cache_rules_registry_id_registries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_rules")),
        sa.UniqueConstraint("registry_id", "name", name=op.f("uq_cache_rules_registry_id_name")),
        sa.UniqueConstraint(
            "registry_id", "target_repo", name=op.f("uq_cache_rules_registry_id_target_repo")
        ),
    )
    op.create_table(
        "cache_tag_checks",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("repository", sa.String(length=256), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=150), nullable=False),
        _when("checked_at"),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["cache_rules.id"],
            name=op.f("fk_cache_tag_checks_rule_id_cache_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "repository", "tag", name=op.f("pk_cache_tag_checks")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("cache_tag_checks")
    op.drop_table("cache_rules")
