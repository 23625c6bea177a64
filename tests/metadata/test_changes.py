"""`DatabaseChanges`: equal marks mean nothing was committed to the database in between."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from portside.metadata.changes import DatabaseChanges


def _database(tmp_path: Path) -> Path:
    path = tmp_path / "portside.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x INTEGER)")
    return path


def test_marks_move_with_every_commit_of_another_connection(tmp_path: Path) -> None:
    path = _database(tmp_path)
    changes = DatabaseChanges(f"sqlite+aiosqlite:///{path}")
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        first = changes.mark()
        assert first is not None
        assert changes.mark() == first  # nothing committed
        writer.execute("INSERT INTO t VALUES (1)")
        second = changes.mark()
        assert second != first
        writer.execute("BEGIN")
        writer.execute("INSERT INTO t VALUES (2)")
        assert changes.mark() == second  # not committed yet
        writer.execute("ROLLBACK")
        assert changes.mark() == second
    finally:
        writer.close()
        changes.close()


def test_the_watching_connection_cannot_write(tmp_path: Path) -> None:
    path = _database(tmp_path)
    changes = DatabaseChanges(f"sqlite:///{path}")
    changes.mark()
    conn = changes._conn
    assert conn is not None
    try:
        conn.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as error:
        assert "readonly" in str(error)
    else:
        raise AssertionError("the watching connection wrote")
    finally:
        changes.close()


def test_no_marks_where_changes_cannot_be_told() -> None:
    assert DatabaseChanges("postgresql+asyncpg://u:p@db/portside").mark() is None
    assert DatabaseChanges("sqlite+aiosqlite:///:memory:").mark() is None
    assert DatabaseChanges("sqlite+aiosqlite://").mark() is None
