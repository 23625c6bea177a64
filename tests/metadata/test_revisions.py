"""The start's schema check without Alembic agrees with Alembic, and says "current" only then."""

from __future__ import annotations

from pathlib import Path

from portside.metadata.migrate import downgrade, head_revision, upgrade
from portside.metadata.revisions import script_head, sqlite_is_current


def test_the_scripts_head_is_alembics() -> None:
    assert script_head() == head_revision()


def test_a_branch_or_an_unreadable_script_leaves_the_answer_to_alembic(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision = "b"\ndown_revision = "a"\n')
    assert script_head(tmp_path) == "b"
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')  # two heads
    assert script_head(tmp_path) is None
    (tmp_path / "c.py").write_text("revision = compute()\n")
    assert script_head(tmp_path) is None


def test_only_an_sqlite_file_at_the_head_is_current(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'portside.db'}"
    assert not sqlite_is_current(url)  # no file yet
    assert not (tmp_path / "portside.db").exists()  # and the check made none
    upgrade(url)
    assert sqlite_is_current(url)
    downgrade(url, "0014")
    assert not sqlite_is_current(url)
    upgrade(url)
    assert sqlite_is_current(url)
    (tmp_path / "other.db").write_bytes(b"not a database at all")
    assert not sqlite_is_current(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    assert not sqlite_is_current("sqlite+aiosqlite:///:memory:")
    assert not sqlite_is_current("postgresql+asyncpg://user:secret@127.0.0.1:1/portside")
