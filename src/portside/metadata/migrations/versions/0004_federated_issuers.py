"""federated subjects and groups: role assignments name their issuer

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 02:30:00

Names of federated subjects and groups are only unique per issuer, so role assignments of
kinds `subject` and `group` now name the trusted issuer they belong to. Assignments that
predate this are bound to the deployment's trusted issuer when exactly one was configured when
the migration ran (`portside serve` passes them; see `portside.metadata.migrate.upgrade`).
With several or none, which issuer an old assignment meant cannot be known: it keeps an empty
issuer, which matches no identity, and a warning asks the operator to create it again naming
its issuer (docs/access-control.md).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import context, op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_log = logging.getLogger("portside.migrations")

_OLD_UNIQUE = "uq_role_assignments_registry_id_principal_type_principal_role_repositories"
_NEW_UNIQUE = "uq_role_assignments_registry_id_principal_type_issuer_principal_role_repositories"
_FEDERATED = ("subject", "group")


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("role_assignments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("issuer", sa.String(length=255), server_default="", nullable=False)
        )
        batch_op.drop_constraint(op.f(_OLD_UNIQUE), type_="unique")
        batch_op.create_unique_constraint(
            op.f(_NEW_UNIQUE),
            ["registry_id", "principal_type", "issuer", "principal", "role", "repositories"],
        )
    assignments = sa.table(
        "role_assignments", sa.column("principal_type", sa.String), sa.column("issuer", sa.String)
    )
    federated = assignments.c.principal_type.in_(_FEDERATED)
    count = op.get_bind().scalar(
        sa.select(sa.func.count()).select_from(assignments).where(federated)
    )
    if not count:
        return
    trusted = context.config.attributes.get("trusted_issuers")
    if trusted is not None and len(trusted) == 1:
        op.execute(assignments.update().where(federated).values(issuer=trusted[0]))
        _log.warning(
            "bound %d role assignment(s) of federated subjects and groups to %s, "
            "the only trusted issuer",
            count,
            trusted[0],
        )
        return
    _log.warning(
        "%d role assignment(s) of federated subjects and groups name no issuer and now grant "
        "nothing: %s; delete them and create them again with --issuer "
        "(docs/access-control.md)",
        count,
        "the trusted issuers were not known to this migration"
        if trusted is None
        else f"{len(trusted)} issuers are trusted, and which one each meant cannot be known",
    )


def downgrade() -> None:
    """Revert this revision (assignments of the same name from several issuers become one)."""
    assignments = sa.table(
        "role_assignments",
        sa.column("id", sa.Integer),
        sa.column("registry_id", sa.Integer),
        sa.column("principal_type", sa.String),
        sa.column("principal", sa.String),
        sa.column("role", sa.String),
        sa.column("repositories", sa.String),
    )
    keep = (
        sa.select(sa.func.min(assignments.c.id))
        .group_by(
            assignments.c.registry_id,
            assignments.c.principal_type,
            assignments.c.principal,
            assignments.c.role,
            assignments.c.repositories,
        )
        .scalar_subquery()
    )
    op.execute(assignments.delete().where(assignments.c.id.not_in(keep)))
    with op.batch_alter_table("role_assignments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(_NEW_UNIQUE), type_="unique")
        batch_op.create_unique_constraint(
            op.f(_OLD_UNIQUE),
            ["registry_id", "principal_type", "principal", "role", "repositories"],
        )
        batch_op.drop_column("issuer")
