"""The database URL picks the backend; only SQLite and PostgreSQL are accepted; the engines
never write statement parameters (password hashes, secrets) into logs or error messages."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

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


SECRET = "$argon2id$v=19$m=65536,t=3,p=4$not-to-be-logged"


@pytest.mark.anyio
async def test_no_engine_logs_or_reports_statement_parameters(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Parameters carry password hashes and secrets: not at DEBUG, not in an error's text."""
    # SQLAlchemy's loggers at their most verbose (aiosqlite's own debug lines are silenced
    # where logging is configured: tests/cli/test_serve.py).
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    # echo on, as someone debugging would turn it on: the statements may show, never the values.
    db = Database(db_url, echo=True)
    failing = text("SELECT nosuch FROM (SELECT :secret AS x) AS t")
    try:
        async with db.write() as conn:
            assert (
                await conn.execute(text("SELECT :secret"), {"secret": SECRET})
            ).scalar() == SECRET
        async with db.read() as conn:
            assert (
                await conn.execute(text("SELECT :secret"), {"secret": SECRET})
            ).scalar() == SECRET
        for transaction in (db.write, db.read):
            with pytest.raises(DBAPIError) as failed:
                async with transaction() as conn:
                    await conn.execute(failing, {"secret": SECRET})
            assert SECRET not in str(failed.value)
    finally:
        await db.close()
    assert "SELECT" in caplog.text  # the echo did log
    assert SECRET not in caplog.text
