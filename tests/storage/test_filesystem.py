"""Filesystem-specific behaviour: paths for zero-copy, keys confined to the root."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from portside.storage.errors import UploadNotFound
from portside.storage.filesystem import FilesystemDriver
from portside.storage.timed import TimedDriver

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


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _open_files(root: Path) -> int:
    """How many of this process's descriptors point into `root`."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(str(root))
    return count


async def test_a_read_closed_early_through_wrappers_closes_its_file(tmp_path: Path) -> None:
    # A reader that stops (a client that hangs up) closes the outermost stream only: every
    # stream inside must close with it, not when the garbage collector gets to it.
    driver = TimedDriver(FilesystemDriver(tmp_path), lambda op, outcome, seconds: None)
    await driver.upload_create("upload01")
    await driver.upload_append("upload01", 0, _chunks(b"x" * (3 << 20)))
    await driver.upload_commit("upload01", "blobs/k")
    gc.disable()  # what is under test must not depend on a collection
    try:
        stream = driver.read("blobs/k")
        assert await anext(stream)
        assert _open_files(tmp_path) == 1
        await stream.aclose()  # type: ignore[attr-defined]
        assert _open_files(tmp_path) == 0
    finally:
        gc.enable()
