"""Alembic environment: runs revisions on the async engine the caller configured."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from portside.metadata.schema import metadata

config = context.config

# Every Portside process runs `upgrade` at start; on PostgreSQL several may start at once. This
# transaction-scoped advisory lock makes them take turns: the first migrates, the others then find
# the database at head and do nothing. (The key is arbitrary but fixed: ASCII "portside".)
_MIGRATION_LOCK = 0x706F727473696465


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        context.run_migrations()


async def _run_async() -> None:
    # No statement parameters in logs or error messages (see database.py).
    engine = create_async_engine(
        config.get_main_option("sqlalchemy.url") or "", hide_parameters=True
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())


_main()
