"""The start's schema check without Alembic agrees with Alembic, and says "current" only then."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from sqlalchemy.engine import make_url

from portside.auth.secrets import SecretHasher
from portside.metadata.credentials import CredentialStore
from portside.metadata.database import Database
from portside.metadata.migrate import downgrade, head_revision, upgrade
from portside.metadata.revisions import (
    _sqlite_path,
    script_head,
    sqlite_admin_password_stored,
    sqlite_is_current,
    sqlite_ready,
)
from portside.services.management.admin import DeploymentAdmin


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


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////srv/portside/data/portside.db",
        "sqlite:///relative/portside.db",
        "sqlite+pysqlite:////a b/c.db",
    ],
)
def test_the_sqlite_path_is_the_one_sqlalchemy_reads(url: str) -> None:
    assert str(_sqlite_path(url)) == make_url(url).database


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///:memory:",
        "sqlite://",
        "sqlite:///file.db?mode=ro",
        "sqlite:////a%20b.db",
        "postgresql+asyncpg://user:secret@127.0.0.1:1/portside",
    ],
)
def test_an_unusual_url_leaves_the_answer_to_the_full_check(url: str) -> None:
    assert _sqlite_path(url) is None


def test_ready_once_current_and_the_administrator_has_a_password(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'portside.db'}"
    assert not sqlite_ready(url, configured_admin_password=True)  # no database yet
    upgrade(url)
    assert not sqlite_admin_password_stored(url)
    assert not sqlite_ready(url, configured_admin_password=False)  # one must be generated
    assert sqlite_ready(url, configured_admin_password=True)

    async def generate() -> str | None:
        database = Database(url)
        try:
            return await DeploymentAdmin(CredentialStore(database), SecretHasher()).ensure(None)
        finally:
            await database.close()

    assert anyio.run(generate) is not None  # what `portside serve`'s first start does
    assert sqlite_admin_password_stored(url)
    assert sqlite_ready(url, configured_admin_password=False)
    downgrade(url, "0014")
    assert not sqlite_ready(url, configured_admin_password=False)
