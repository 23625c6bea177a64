"""change notices: statement triggers NOTIFY portside_changes on writes the caches must see

Revision ID: 0022
Revises: 0017
Create Date: 2026-12-06 09:00:00.000000

PostgreSQL only (SQLite tells commits by `PRAGMA data_version`, metadata/changes.py). Every
insert, update, delete or truncate of a table a per-process cache reads notifies the channel
that each process LISTENs on (metadata/change_notices.py); NOTIFY is delivered at commit, and
identical notices of one transaction are folded into one. Statement-level, so a statement that
writes many rows costs one notice.
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0017"
branch_labels = None
depends_on = None

# The registry cache reads `registries` (whose auth version every access change bumps); the
# manifest cache reads `manifests`, `tags` and `repositories` (the locks). The access tables are
# listed too, so that a writer that forgets the bump is still heard.
_TABLES = (
    "registries",
    "repositories",
    "manifests",
    "tags",
    "tokens",
    "scope_maps",
    "credentials",
    "service_principals",
    "role_assignments",
)
_FUNCTION = "portside_notify_change"


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN PERFORM pg_notify('portside_changes', ''); RETURN NULL; END $$"
    )
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()"
        )


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_change ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {_FUNCTION}()")
