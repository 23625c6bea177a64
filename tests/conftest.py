"""Shared fixtures: settings, an in-process app, databases on each backend, emulators."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.database import Database
from portside.metadata.migrate import upgrade
from tests.backends.azurite import Azurite, start_azurite
from tests.backends.postgres import BACKENDS, empty_database, stop_postgres_cluster
from tests.backends.seaweedfs import SeaweedFS, start_seaweedfs
from tests.process_groups import MARKER, leftovers

BUCKET = "portside-test"


def pytest_configure(config: pytest.Config) -> None:
    """Mark the session in the environment every process a test starts inherits."""
    # Assigned, not inherited: a nested session has its own processes to account for.
    os.environ[MARKER] = uuid.uuid4().hex


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Iterator[None]:
    """After every fixture is torn down, fail the run if a process a test started lives on.

    Leftovers are stopped here by their pids (so that one bad test does not leak into the
    machine), named, and the session's exit status is set to "tests failed".
    """
    yield
    stop_postgres_cluster(session.config)  # kept on the config, so not a fixture torn down
    marker = os.environ.get(MARKER, "")
    found: dict[int, str] = {}
    deadline = time.monotonic() + 10.0  # servers stopped a moment ago may still be exiting
    while marker and time.monotonic() < deadline:
        found = leftovers(marker)
        if not found:
            return
        time.sleep(0.2)
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    lines = "\n".join(f"  {pid}: {command}" for pid, command in sorted(found.items()))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"processes started by tests were still running (now killed):\n{lines}"
    if reporter is not None:
        reporter.write_line(message, red=True, bold=True)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-default settings (SQLite + filesystem) in a fresh data directory."""
    settings = Settings(data_dir=tmp_path / "data")
    upgrade(settings.resolved_database_url())
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """An HTTP client talking to a Portside app in this process (lifespan run)."""
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        yield test_client


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the loop granian serves Portside on."""
    return "asyncio"


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS (S3) for the session, with the test bucket created."""
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.create_bucket(BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite (Azure Blob) for the session."""
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database that no migration has touched, on each backend in turn."""
    with empty_database(request.param, request.config, tmp_path) as url:
        yield url


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """A database migrated to head (migrations run outside any event loop, as at startup)."""
    upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """Engines over the migrated database, disposed after the test."""
    database = Database(db_url)
    yield database
    await database.close()
