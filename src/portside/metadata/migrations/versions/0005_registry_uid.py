"""registries: a random uid that tokens carry, never reused

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 02:30:00.000000

Row ids of deleted registries may be reused (SQLite takes the largest id plus one), so a
registry created again under a deleted one's name could accept the old tokens. Each registry
gets a random `uid` (16 bytes, hex), existing ones a fresh random value each, and tokens name
the registry by it.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("registries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uid", sa.String(length=32), nullable=True))
    table = sa.table("registries", sa.column("id", sa.Integer()), sa.column("uid", sa.String()))
    conn = op.get_bind()
    for registry_id in conn.execute(sa.select(table.c.id)).scalars().all():
        conn.execute(
            sa.update(table).where(table.c.id == registry_id).values(uid=secrets.token_hex(16))
        )
    with op.batch_alter_table("registries", schema=None) as batch_op:
        batch_op.alter_column("uid", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_registries_uid"), ["uid"])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("registries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_registries_uid"), type_="unique")
        batch_op.drop_column("uid")
