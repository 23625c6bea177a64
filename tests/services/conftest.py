"""Service tests run on each metadata backend (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from portside.metadata.database import Database
from portside.metadata.migrate import upgrade
from tests.backends.postgres import BACKENDS, empty_database


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database on each metadata backend in turn."""
    with empty_database(request.param, request.config, tmp_path) as url:
        upgrade(url)
        yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """Engines over it."""
    database = Database(db_url)
    yield database
    await database.close()
