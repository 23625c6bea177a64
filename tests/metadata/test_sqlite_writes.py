"""SQLite write transactions run their statements in the loop, and wait for the lock outside it."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import IntegrityError

from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.migrate import upgrade
from portside.metadata.schema import registries

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """A migrated SQLite database file."""
    path = tmp_path / "portside.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _report_threads(db: Database) -> None:
    """Give the write connections a SQL function naming the thread a statement runs on."""

    @event.listens_for(db.engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("thread_ident", 0, threading.get_ident)


async def test_statements_of_a_write_transaction_run_in_the_loops_thread(db_file: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    _report_threads(db)
    try:
        async with db.write() as conn:
            ran_on = await conn.scalar(text("SELECT thread_ident()"))
            await conn.execute(
                insert(registries).values(name="inloop", uid="u-inloop", created_at=utcnow())
            )
        assert ran_on == threading.get_ident()
        async with db.read() as read:
            assert await read.scalar(select(registries.c.uid).where(registries.c.name == "inloop"))
    finally:
        await db.close()


async def test_a_bulk_transactions_statements_run_on_the_connections_thread(
    db_file: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    _report_threads(db)
    try:
        async with db.write(bulk=True) as conn:
            bulk_on = await conn.scalar(text("SELECT thread_ident()"))
        async with db.write() as conn:
            usual_on = await conn.scalar(text("SELECT thread_ident()"))
        assert bulk_on != threading.get_ident()
        assert usual_on == threading.get_ident(), "the mark ends with its transaction"
    finally:
        await db.close()


async def test_a_failed_statement_rolls_the_transaction_back(db_file: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    row = {"name": "twice", "uid": "u-twice", "created_at": utcnow()}
    try:
        with pytest.raises(IntegrityError):
            async with db.write() as conn:
                await conn.execute(insert(registries).values(**row))
                await conn.execute(insert(registries).values(**row))
        async with db.read() as read:
            count = len(
                (
                    await read.execute(select(registries.c.id).where(registries.c.name == "twice"))
                ).all()
            )
        assert count == 0
        async with db.write() as conn:  # the connection went back to the pool usable
            await conn.execute(insert(registries).values(**row))
    finally:
        await db.close()


async def test_waiting_for_a_lock_held_outside_portside_leaves_the_loop_free(
    db_file: Path,
) -> None:
    """The sqlite3 shell (or any process that does not queue for turns) holds the write lock:
    BEGIN IMMEDIATE waits in busy_timeout on aiosqlite's thread while the loop runs on."""
    outsider = sqlite3.connect(db_file, isolation_level=None)
    outsider.execute("BEGIN IMMEDIATE")
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    ticks = 0
    began = 0.0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.01)

    async def release_later() -> None:
        await anyio.sleep(0.5)
        outsider.execute("COMMIT")

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ticker)
            tasks.start_soon(release_later)
            started = time.monotonic()
            async with db.write() as conn:
                began = time.monotonic() - started
                await conn.execute(
                    insert(registries).values(name="after", uid="u-after", created_at=utcnow())
                )
            tasks.cancel_scope.cancel()
        assert began >= 0.4  # it did wait for the outsider's COMMIT
        assert ticks >= 5  # and the loop went on meanwhile (blocked, it would tick once)
    finally:
        await db.close()
        outsider.close()
