"""Schema migrations: bring any database to the newest Alembic revision.

`upgrade`, `downgrade` and `current_revision` run an event loop of their own (Alembic's async env
calls asyncio.run), so call them where no loop is running: at startup before serving, from the
CLI, from synchronous test fixtures.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from portside.metadata.database import async_url, shown_url

__all__ = ["alembic_config", "current_revision", "downgrade", "head_revision", "upgrade"]

log = logging.getLogger(__name__)

_SCRIPTS = Path(__file__).with_name("migrations")


def alembic_config(url: str, trusted_issuers: tuple[str, ...] | None = None) -> Config:
    """An Alembic configuration for `url`, built in code (no alembic.ini to find).

    `trusted_issuers`, when known, are the deployment's trusted OIDC issuers: revision 0004
    binds existing federated role assignments to the issuer when there is exactly one.
    """
    config = Config()
    if trusted_issuers is not None:
        config.attributes["trusted_issuers"] = trusted_issuers
    config.set_main_option("script_location", str(_SCRIPTS))
    full = async_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", full.replace("%", "%%"))
    return config


def upgrade(
    url: str, revision: str = "head", *, trusted_issuers: tuple[str, ...] | None = None
) -> None:
    """Run migrations up to `revision`. Safe to call on an up-to-date database.

    `trusted_issuers`: see `alembic_config`."""
    # The start line of `portside serve` names the database: never with its password.
    log.info("metadata: %s", shown_url(url))
    database = make_url(url).database if make_url(url).get_backend_name() == "sqlite" else None
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        # WAL is a property of the file: switch it once here, before any worker starts.
        # Workers that all switched a fresh file at once raced for the exclusive lock the
        # switch needs, and one could die at start with "database is locked".
        with sqlite3.connect(database, timeout=30) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.close()
    command.upgrade(alembic_config(url, trusted_issuers), revision)


def downgrade(url: str, revision: str) -> None:
    """Revert migrations down to `revision` ("base" empties the database)."""
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest revision id in the migration scripts."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The revision a database is at, or None if it was never migrated."""
    return asyncio.run(_current_revision(url))


async def _current_revision(url: str) -> str | None:
    engine = create_async_engine(async_url(url), hide_parameters=True)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_revision_of)
    finally:
        await engine.dispose()


def _revision_of(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()
