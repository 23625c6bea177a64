"""The database URL picks the backend; only SQLite and PostgreSQL are accepted."""

from __future__ import annotations

import pytest

from portside.metadata.database import Database, async_url


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("sqlite:///data/portside.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///data/portside.db", "sqlite+aiosqlite"),
        ("postgresql://portside@db.internal/portside", "postgresql+asyncpg"),
        ("postgresql+asyncpg://portside@db.internal/portside", "postgresql+asyncpg"),
    ],
)
def test_the_async_driver_is_filled_in(given: str, driver: str) -> None:
    assert async_url(given).drivername == driver


@pytest.mark.parametrize("url", ["mysql+aiomysql://u@h/db", "oracle://u@h/db"])
def test_other_databases_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        Database(url)
