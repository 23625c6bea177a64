"""The retry policy: a transaction that lost a race runs again; anything else fails at once."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from portside.metadata.conflicts import ATTEMPTS, retry_on_conflict

pytestmark = pytest.mark.anyio


class DriverError(Exception):
    """A driver exception carrying a SQLSTATE, as asyncpg's and psycopg's do."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


class Flaky:
    """An operation that fails `failures` times with `sqlstate`, then answers 42."""

    def __init__(self, failures: int, sqlstate: str | None) -> None:
        self.calls = 0
        self.failures = failures
        self.sqlstate = sqlstate

    @retry_on_conflict
    async def run(self) -> int:
        """The operation."""
        self.calls += 1
        if self.calls <= self.failures:
            raise IntegrityError("INSERT ...", {}, DriverError(self.sqlstate))
        return 42


@pytest.mark.parametrize("sqlstate", ["40001", "40P01", "23505", "23503"])
async def test_lost_races_are_run_again(sqlstate: str) -> None:
    operation = Flaky(failures=ATTEMPTS - 1, sqlstate=sqlstate)
    assert await operation.run() == 42
    assert operation.calls == ATTEMPTS


async def test_retries_are_bounded() -> None:
    operation = Flaky(failures=ATTEMPTS, sqlstate="40P01")
    with pytest.raises(DBAPIError):
        await operation.run()
    assert operation.calls == ATTEMPTS


@pytest.mark.parametrize("sqlstate", ["23502", "22001", None])
async def test_other_errors_are_not_retried(sqlstate: str | None) -> None:
    # A NOT NULL violation, a value too long, or SQLite (no SQLSTATE): running again cannot help.
    operation = Flaky(failures=1, sqlstate=sqlstate)
    with pytest.raises(DBAPIError):
        await operation.run()
    assert operation.calls == 1
