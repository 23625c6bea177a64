"""SQLite writers take turns first come, first served, within a process and across processes."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from sqlalchemy import select

from portside.metadata.database import Database
from portside.metadata.migrate import upgrade
from portside.metadata.repositories import RepositoryStore
from portside.metadata.schema import registries
from portside.metadata.write_turns import WriteTurns

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

# Holds the turn file's lock until its standard input closes, as another Portside process's
# write transaction would.
_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database file."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'portside.db'}"
    upgrade(url)
    return url


async def _add_registry(db: Database, name: str) -> None:
    await RepositoryStore(db).ensure_registry(name)


async def test_writers_of_one_process_are_served_in_arrival_order(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    order: list[int] = []
    try:

        async def writer(n: int) -> None:
            async with db.write() as conn:
                order.append(n)
                await conn.execute(select(1))
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as tasks:
            for n in range(20):
                tasks.start_soon(writer, n)
                await anyio.lowlevel.checkpoint()  # each writer asks before the next one starts
    finally:
        await db.close()
    assert order == list(range(20))


@pytest.fixture
def other_process(sqlite_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Another process holding the database's turn until its standard input is closed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path / "portside.db-writer")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline() == b"held\n"
        yield holder
    finally:
        holder.stdin.close()
        holder.stdout.close()
        holder.wait()


async def test_a_writer_waits_for_another_process_holding_the_turn(
    sqlite_url: str, other_process: subprocess.Popen[bytes]
) -> None:
    assert other_process.stdin is not None
    db = Database(sqlite_url)
    done = anyio.Event()
    try:

        async def write() -> None:
            await _add_registry(db, "waited")
            done.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(write)
            await anyio.sleep(0.3)
            assert not done.is_set(), "the write did not wait for the other process's turn"
            started = time.monotonic()
            other_process.stdin.close()  # the other process's transaction ends
            await done.wait()
            # The kernel wakes the waiter at once, not after a busy-handler sleep.
            assert time.monotonic() - started < 0.5
        async with db.read() as conn:
            found = await conn.scalar(
                select(registries.c.name).where(registries.c.name == "waited")
            )
        assert found == "waited"
    finally:
        await db.close()


async def test_a_cancelled_waiter_leaves_the_turn_free(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    try:
        async with db.write():
            with anyio.move_on_after(0.1) as scope:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(_add_registry, db, "cancelled")
                    await anyio.sleep(1)
            assert scope.cancelled_caught
        await _add_registry(db, "after")  # would hang if the cancelled waiter kept the turn
    finally:
        await db.close()
    fd = os.open(tmp_path / "portside.db-writer", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds the file lock any more
    finally:
        os.close(fd)


async def test_a_write_begun_inside_another_is_refused_not_a_deadlock(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with db.write():
            with pytest.raises(RuntimeError, match="inside another"):
                async with db.write():
                    pass
    finally:
        await db.close()


async def test_an_in_memory_database_needs_no_file(tmp_path: Path) -> None:
    turns = WriteTurns(None)
    async with turns.turn():
        pass
    turns.close()
    assert list(tmp_path.iterdir()) == []
