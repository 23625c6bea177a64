"""Filesystem-specific behaviour: paths for zero-copy, keys confined to the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from portside.storage.errors import UploadNotFound
from portside.storage.filesystem import FilesystemDriver

pytestmark = pytest.mark.anyio


async def test_local_path_points_inside_the_root(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)
    path = driver.local_path("blobs/sha256/ab/abcd")
    assert path == str(tmp_path.resolve() / "blobs/sha256/ab/abcd")


async def test_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path / "root")
    with pytest.raises(ValueError):
        await driver.stat("../outside")


async def test_commit_leaves_no_upload_file(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)
    await driver.upload_create("upload-0001")
    await driver.upload_commit("upload-0001", "blobs/x")
    assert not (tmp_path / "uploads" / "upload-0001").exists()
    assert (tmp_path / "blobs" / "x").read_bytes() == b""


async def test_seal_of_a_missing_upload_raises_upload_not_found(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)
    with pytest.raises(UploadNotFound):
        await driver.upload_seal("no-such-upload")
