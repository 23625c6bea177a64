"""Fixtures shared by the whole suite: settings in a temporary data directory, an in-process app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.migrate import upgrade
from tests.backends.azurite import Azurite, start_azurite
from tests.backends.seaweedfs import SeaweedFS, start_seaweedfs

BUCKET = "portside-test"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-default settings (SQLite + filesystem) in a fresh data directory."""
    settings = Settings(data_dir=tmp_path / "data")
    upgrade(settings.resolved_database_url())
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """An HTTP client talking to a Portside app in this process (lifespan run)."""
    with TestClient(create_app(settings)) as test_client:
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
