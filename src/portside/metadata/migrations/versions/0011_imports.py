"""imports: credential sets, deployment keys, import jobs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portside.metadata.columns

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, portside.metadata.columns.UTCDateTime(timezone=True), nullable=nullable)


def _registry(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["registry_id"],
        ["registries.id"],
        name=op.f(f"fk_{table}_registry_id_registries"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "deployment_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        _when("created_at", False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_deployment_keys")),
    )
    op.create_table(
        "credential_sets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("login_server", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("password_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        _when("created_at", False),
        _when("updated_at", False),
        _registry("credential_sets"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_sets")),
        sa.UniqueConstraint(
            "registry_id", "name", name=op.f("uq_credential_sets_registry_id_name")
        ),
    )
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("bytes_done", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("bytes_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _when("created_at", False),
        _when("updated_at", False),
        _when("finished_at", True),
        _registry("import_jobs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_import_jobs_registry_created", ["registry_id", "created_at"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("import_jobs")
    op.drop_table("credential_sets")
    op.drop_table("deployment_keys")
