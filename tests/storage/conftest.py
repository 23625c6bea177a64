"""Every storage driver runs the same contract suite; this fixture lists the drivers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from portside.storage.base import StorageDriver
from portside.storage.filesystem import FilesystemDriver
from portside.storage.memory import MemoryDriver


@pytest.fixture(params=["memory", "filesystem"])
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
    """A fresh, empty driver of each kind."""
    made: StorageDriver
    made = MemoryDriver() if request.param == "memory" else FilesystemDriver(tmp_path / "store")
    yield made
    await made.close()
