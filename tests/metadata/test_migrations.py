"""Alembic revisions build exactly the schema the stores are written against, on every backend."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from typing import TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from portside.metadata.migrate import current_revision, downgrade, head_revision, upgrade
from portside.metadata.schema import metadata

T = TypeVar("T")


def inspected(url: str, look: Callable[[Connection], T]) -> T:
    """Run `look` on a synchronous view of a connection to `url` (outside any event loop)."""

    async def run() -> T:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(look)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def schema_diff(conn: Connection) -> list[object]:
    """What Alembic's autogenerate would change to make the database match schema.py."""
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


def table_names(conn: Connection) -> set[str]:
    """The tables in the database."""
    return set(inspect(conn).get_table_names())


def test_upgrade_reaches_head_and_is_repeatable(empty_db_url: str) -> None:
    assert current_revision(empty_db_url) is None
    upgrade(empty_db_url)
    assert current_revision(empty_db_url) == head_revision()
    upgrade(empty_db_url)  # a second start must be a no-op
    assert current_revision(empty_db_url) == head_revision()


def test_migrated_schema_matches_table_definitions(db_url: str) -> None:
    assert inspected(db_url, schema_diff) == []


def test_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    downgrade(db_url, "base")
    assert current_revision(db_url) is None
    assert inspected(db_url, table_names) <= {"alembic_version"}
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()
    assert inspected(db_url, schema_diff) == []


@pytest.mark.parametrize("empty_db_url", ["postgresql"], indirect=True)
def test_processes_starting_at_once_migrate_once(empty_db_url: str) -> None:
    # Scale-out: every process runs upgrade() at start. Separate processes, as in production
    # (Alembic's `context` is process-global, so threads would not be a faithful stand-in).
    code = "import sys; from portside.metadata.migrate import upgrade; upgrade(sys.argv[1])"
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", code, empty_db_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [start.communicate(timeout=120)[0] for start in starts]
    assert [start.returncode for start in starts] == [0] * len(starts), outputs
    assert current_revision(empty_db_url) == head_revision()
    assert inspected(empty_db_url, schema_diff) == []


def test_registry_uids_are_backfilled_with_distinct_random_values(empty_db_url: str) -> None:
    # Revision 0005 gives existing registries a uid each and keeps everything that hangs on
    # them (SQLite rebuilds the table to make the column NOT NULL).
    upgrade(empty_db_url, "0003")

    def fill(conn: Connection) -> None:
        for registry_id, name in ((1, "contoso"), (2, "fabrikam")):
            conn.execute(
                text(
                    "INSERT INTO registries (id, name, created_at) "
                    "VALUES (:id, :name, CURRENT_TIMESTAMP)"
                ),
                {"id": registry_id, "name": name},
            )
        conn.execute(
            text(
                "INSERT INTO repositories (registry_id, name, created_at, updated_at) "
                "VALUES (1, 'team/app', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        conn.commit()

    inspected(empty_db_url, fill)
    upgrade(empty_db_url)

    def read(conn: Connection) -> tuple[list[str], int]:
        uids = list(conn.execute(text("SELECT uid FROM registries")).scalars())
        return uids, conn.execute(text("SELECT count(*) FROM repositories")).scalar_one()

    uids, repositories = inspected(empty_db_url, read)
    assert len(set(uids)) == 2 and all(len(uid) == 32 for uid in uids)
    assert repositories == 1


def _seed_unbound_assignments(conn: Connection) -> None:
    """Role assignments as revision 0003 stored them: subjects and groups without an issuer."""
    conn.execute(text("INSERT INTO registries (name, created_at) VALUES ('r', CURRENT_TIMESTAMP)"))
    for kind, name in (("sp", "00000000-0000-0000-0000-0000000000aa"), ("group", "devs")):
        conn.execute(
            text(
                "INSERT INTO role_assignments (registry_id, principal_type, principal, role, "
                "repositories, created_at) SELECT id, :kind, :name, 'AcrPull', '*', "
                "CURRENT_TIMESTAMP FROM registries WHERE name = 'r'"
            ),
            {"kind": kind, "name": name},
        )
    conn.commit()


def _issuers(conn: Connection) -> dict[str, str]:
    rows = conn.execute(text("SELECT principal_type, issuer FROM role_assignments")).all()
    return {row.principal_type: row.issuer for row in rows}


@pytest.mark.parametrize(
    ("trusted", "bound"),
    [
        (("https://only.example",), "https://only.example"),
        (("https://a", "https://b"), ""),
        (None, ""),
    ],
    ids=["one-issuer", "several-issuers", "issuers-unknown"],
)
def test_federated_assignments_are_bound_to_the_only_trusted_issuer(
    empty_db_url: str, trusted: tuple[str, ...] | None, bound: str
) -> None:
    upgrade(empty_db_url, "0003")
    inspected(empty_db_url, _seed_unbound_assignments)
    upgrade(empty_db_url, trusted_issuers=trusted)
    # With several issuers (or none known), guessing could hand one issuer's grants to
    # another's names: the assignment is kept but matches nobody until it is re-created.
    assert inspected(empty_db_url, _issuers) == {"sp": "", "group": bound}
    downgrade(empty_db_url, "0003")
    upgrade(empty_db_url)
    assert inspected(empty_db_url, schema_diff) == []


def test_trusted_issuers_revision_starts_the_version_and_goes_back(empty_db_url: str) -> None:
    # Revision 0007 adds the stored issuers and the deployment-wide change counter, seeded at
    # 0 so that every node reads a version from the start; going back removes both.
    upgrade(empty_db_url, "0007")

    def version(conn: Connection) -> object:
        return conn.execute(
            text("SELECT value FROM versions WHERE name = 'trusted_issuers'")
        ).scalar_one()

    assert inspected(empty_db_url, version) == 0
    downgrade(empty_db_url, "0006")
    assert not {"trusted_issuers", "versions"} & inspected(empty_db_url, table_names)
    upgrade(empty_db_url)
    assert inspected(empty_db_url, schema_diff) == []
