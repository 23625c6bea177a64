"""Every metadata test runs once per backend: SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from portside.metadata.database import Database
from portside.metadata.migrate import upgrade
from tests.backends.postgres import BACKENDS, empty_database


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database that no migration has touched, on each backend in turn."""
    with empty_database(request.param, request.config, tmp_path) as url:
        yield url


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """A database migrated to head (migrations run outside any event loop, as at startup)."""
    upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """Engines over the migrated database, disposed after the test."""
    database = Database(db_url)
    yield database
    await database.close()
