"""Every storage driver runs the same contract suite; this fixture lists the drivers.

The object-store drivers run against emulators started once per session (SeaweedFS for S3,
Azurite for Azure Blob); each test gets a fresh key prefix (S3) or a fresh container (Azure), so
tests never see each other's keys.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from azure.storage.blob.aio import BlobServiceClient

from portside.storage.azure import AzureBlobDriver, AzureOptions
from portside.storage.base import StorageDriver
from portside.storage.filesystem import FilesystemDriver
from portside.storage.memory import MemoryDriver
from portside.storage.s3 import S3Driver, S3Options
from portside.storage.timed import TimedDriver
from tests.backends.azurite import Azurite
from tests.backends.seaweedfs import ACCESS_KEY, SECRET_KEY, SeaweedFS

BUCKET = "portside-test"


def s3_options(server: SeaweedFS, **overrides: object) -> S3Options:
    """Options for an S3 driver on `server` under a fresh key prefix."""
    settings: dict[str, object] = {
        "bucket": BUCKET,
        "endpoint_url": server.endpoint_url,
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY,
        "addressing_style": "path",
        "prefix": f"test-{uuid.uuid4().hex[:12]}",
    }
    settings.update(overrides)
    return S3Options(**settings)  # type: ignore[arg-type]


async def azure_options(server: Azurite, **overrides: object) -> AzureOptions:
    """Options for an Azure driver on `server`, in a fresh container that this creates."""
    container = f"test-{uuid.uuid4().hex[:12]}"
    async with BlobServiceClient.from_connection_string(server.connection_string) as service:
        await service.create_container(container)
    settings: dict[str, object] = {
        "container": container,
        "connection_string": server.connection_string,
    }
    settings.update(overrides)
    return AzureOptions(**settings)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "filesystem", "timed", "s3", "azure"])
async def nodes(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[], StorageDriver]]:
    """Makes driver instances of one kind over one store, as separate nodes would hold.

    Memory has no second node: every call returns the same instance. "timed" is the timing
    wrapper the server puts around every driver (storage/timed.py), here around a filesystem.
    """
    made: list[StorageDriver] = []
    build: Callable[[], StorageDriver]
    if request.param == "memory":
        memory = MemoryDriver()
        build = lambda: memory  # noqa: E731
    elif request.param == "filesystem":
        build = lambda: FilesystemDriver(tmp_path / "store")  # noqa: E731
    elif request.param == "timed":
        build = lambda: TimedDriver(FilesystemDriver(tmp_path / "store"), _ignore)  # noqa: E731
    elif request.param == "s3":
        s3 = s3_options(request.getfixturevalue("seaweedfs"))
        build = lambda: S3Driver(s3)  # noqa: E731
    else:
        azure = await azure_options(request.getfixturevalue("azurite"))
        build = lambda: AzureBlobDriver(azure)  # noqa: E731

    def node() -> StorageDriver:
        made.append(build())
        return made[-1]

    yield node
    for instance in made:
        await instance.close()


def _ignore(operation: str, outcome: str, seconds: float) -> None:
    """A timing observer that drops what it hears."""


@pytest.fixture
def driver(nodes: Callable[[], StorageDriver]) -> StorageDriver:
    """A fresh, empty driver of each kind."""
    return nodes()
