"""Committing an upload: the bytes land inside the transaction that records the blob, so a
push refused by the storage quota leaves no blob row, no bytes and unchanged counters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, update
from starlette.testclient import TestClient

from portside.config import Settings
from portside.metadata.schema import blobs, registries, repositories
from tests.registry_client import digest_of, error_code, push_blob

REPO = "team/quota"


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """A synchronous engine on the app's SQLite database, for setting and reading rows."""
    url = settings.resolved_database_url().replace("sqlite+aiosqlite", "sqlite")
    engine = create_engine(url)
    yield engine
    engine.dispose()


def usage(engine: Engine) -> tuple[int, list[int]]:
    """The registry's storage_bytes and each repository's."""
    with engine.connect() as conn:
        total = conn.scalar(select(registries.c.storage_bytes))
        repos = list(conn.scalars(select(repositories.c.storage_bytes)).all())
    return int(total or 0), repos


def stored_files(root: Path) -> set[str]:
    """Every file under the storage root (blobs and uploads)."""
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_a_push_over_the_storage_quota_leaves_nothing_behind(
    client: TestClient, settings: Settings, engine: Engine, chunked: bool
) -> None:
    push_blob(client, REPO, b"small blob")
    with engine.begin() as conn:
        conn.execute(update(registries).values(quota_storage_bytes=registries.c.storage_bytes + 5))
    before = usage(engine)
    root = settings.resolved_storage_path()
    files = stored_files(root)
    data = b"a blob that does not fit" * 10
    digest = digest_of(data)
    if chunked:
        location = client.post(f"/v2/{REPO}/blobs/uploads/").headers["Location"]
        assert client.patch(location, content=data[:100]).status_code == 202
        response = client.put(location, params={"digest": digest}, content=data[100:])
    else:
        response = client.post(
            f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, content=data
        )
    assert response.status_code == 403, response.text
    assert error_code(response) == "DENIED"
    with engine.connect() as conn:
        assert conn.scalar(select(blobs.c.digest).where(blobs.c.digest == digest)) is None
    assert stored_files(root) == files, "no blob bytes and no upload left behind"
    assert usage(engine) == before
    assert client.head(f"/v2/{REPO}/blobs/{digest}").status_code == 404
    # Within the quota, the same repository still takes pushes.
    push_blob(client, REPO, b"tiny")
