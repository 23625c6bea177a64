"""Alembic revisions build exactly the schema the stores are written against."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from portside.metadata.migrate import current_revision, head_revision, upgrade
from portside.metadata.schema import metadata


def test_upgrade_reaches_head_and_is_repeatable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    assert current_revision(url) is None
    upgrade(url)
    assert current_revision(url) == head_revision()
    upgrade(url)  # a second start must be a no-op
    assert current_revision(url) == head_revision()


def test_migrated_schema_matches_table_definitions(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []
