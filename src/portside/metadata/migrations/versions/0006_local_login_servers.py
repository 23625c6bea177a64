"""registries: login slots for loopback login servers

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    # Existing registries get no slot here: the server gives each one the lowest free slot
    # when it starts its loopback login servers (the default registry needs none).
    with op.batch_alter_table("registries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login_slot", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_registries_login_slot"), ["login_slot"])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("registries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_registries_login_slot"), type_="unique")
        batch_op.drop_column("login_slot")
