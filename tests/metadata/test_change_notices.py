"""PostgreSQL's change marks: a commit on another connection moves the mark, a lost listener
gives None, and a listener that is back starts a new generation."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from portside.metadata.change_notices import ChangeNotices
from portside.metadata.changes import DatabaseChanges
from portside.metadata.migrate import upgrade
from tests.backends.postgres import postgres_cluster

pytestmark = pytest.mark.anyio

DEADLINE = 5.0


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL database migrated to head (its tables notify)."""
    with postgres_cluster(request.config).fresh_database() as url:
        upgrade(url)
        yield url


async def _other(url: str) -> asyncpg.Connection:
    """A connection of "another node"."""
    return await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))


async def _until(check: object, what: str) -> float:
    """Seconds until `check()` is true (polled every millisecond); fails past DEADLINE."""
    started = time.perf_counter()
    while not check():  # type: ignore[operator]
        if time.perf_counter() - started > DEADLINE:
            pytest.fail(f"not within {DEADLINE} s: {what}")
        await anyio.sleep(0.001)
    return time.perf_counter() - started


async def test_a_commit_elsewhere_moves_the_mark(pg_url: str) -> None:
    notices = ChangeNotices(make_url(pg_url))
    other = await _other(pg_url)
    try:
        assert notices.mark() is None  # not listening yet: the first call only starts it
        await _until(lambda: notices.mark() is not None, "listening")
        before = notices.mark()
        await anyio.sleep(0.05)
        assert notices.mark() == before  # nothing committed, nothing heard
        await other.execute(
            "INSERT INTO registries (name, sku, admin_enabled, anonymous_pull, immutable_tags,"
            " auth_version, created_at, storage_bytes, uid)"
            " VALUES ('moved', 'Standard', false, false, false, 0, now(), 0, 'uid-moved')"
        )
        delay = await _until(lambda: notices.mark() != before, "the insert's notice")
        print(f"commit -> notice heard: {delay * 1000:.1f} ms")
        after = notices.mark()
        # A transaction that writes and rolls back notifies nobody (NOTIFY goes out at commit).
        rolled_back = other.transaction()
        await rolled_back.start()
        await other.execute("UPDATE registries SET auth_version = auth_version + 1")
        await rolled_back.rollback()
        await anyio.sleep(0.2)
        assert notices.mark() == after
        unrelated = notices.mark()
        await other.execute("CREATE TEMP TABLE scratch (x int); INSERT INTO scratch VALUES (1)")
        await anyio.sleep(0.2)
        assert notices.mark() == unrelated  # a table no cache reads notifies nothing
    finally:
        await other.close()
        await notices.aclose()
    assert notices.mark() is None


async def test_a_lost_listener_gives_none_and_comes_back_as_a_new_generation(
    pg_url: str,
) -> None:
    notices = ChangeNotices(make_url(pg_url))
    other = await _other(pg_url)
    try:
        notices.mark()
        await _until(lambda: notices.mark() is not None, "listening")
        first, generation = notices.mark(), notices.generation
        killed = await other.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'portside-changes'"
        )
        assert killed == 1
        await _until(lambda: notices.mark() is None, "None once the listener is lost")
        await _until(lambda: notices.mark() is not None, "listening again")
        assert notices.generation == generation + 1
        assert notices.mark() != first
    finally:
        await other.close()
        await notices.aclose()


async def test_no_marks_beside_a_read_replica(pg_url: str) -> None:
    changes = DatabaseChanges(pg_url, replica=True)
    try:
        for _ in range(3):
            assert changes.mark() is None
            await anyio.sleep(0.01)
    finally:
        await changes.aclose()


async def test_closing_ends_the_listeners_session(pg_url: str) -> None:
    changes = DatabaseChanges(pg_url)
    other = await _other(pg_url)
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'portside-changes'"
    try:
        changes.mark()
        await _until(lambda: changes.mark() is not None, "listening")
        assert await other.fetchval(query) == 1
        await changes.aclose()
        assert changes.mark() is None
        started = time.perf_counter()
        while await other.fetchval(query) != 0:
            assert time.perf_counter() - started < DEADLINE, "the listener's session lives on"
            await anyio.sleep(0.01)
    finally:
        await other.close()
        await changes.aclose()
