"""Filesystem-specific behaviour: paths for zero-copy, keys confined to the root, appends
written without copies and handed to writeback early."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from portside.storage import filesystem
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


async def _pieces(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_append_of_more_chunks_than_one_writev_takes_lands_them_in_order(
    tmp_path: Path,
) -> None:
    # 3,000 one-byte-to-300-byte chunks make batches of more buffers than IOV_MAX (1024).
    parts = [bytes([index % 251]) * (1 + index % 300) for index in range(3000)]
    driver = FilesystemDriver(tmp_path)
    await driver.upload_create("upload-0001")
    size = await driver.upload_append("upload-0001", 0, _pieces(parts))
    assert size == sum(len(part) for part in parts)
    assert (tmp_path / "uploads" / "upload-0001").read_bytes() == b"".join(parts)


async def test_a_short_write_is_continued_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_writev = os.writev

    def short_writev(fd: int, buffers: list[memoryview]) -> int:
        # At most 1,000 bytes a call, cutting chunks in the middle, as a signal may.
        first = bytes(buffers[0])[:1000]
        return real_writev(fd, [first])

    monkeypatch.setattr(filesystem.os, "writev", short_writev)
    parts = [os.urandom(2500), os.urandom(10), os.urandom(4096)]
    driver = FilesystemDriver(tmp_path)
    await driver.upload_create("upload-0001")
    assert await driver.upload_append("upload-0001", 0, _pieces(parts)) == 6606
    assert (tmp_path / "uploads" / "upload-0001").read_bytes() == b"".join(parts)


async def test_appended_bytes_are_handed_to_writeback_as_they_come(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[int, int]] = []
    monkeypatch.setattr(filesystem, "_WRITEBACK_EVERY", 1 << 20)
    monkeypatch.setattr(
        filesystem, "_start_writeback", lambda fd, offset, length: started.append((offset, length))
    )
    driver = FilesystemDriver(tmp_path)
    await driver.upload_create("upload-0001")
    await driver.upload_append("upload-0001", 0, _pieces([b"a" * (1 << 19)] * 7))
    await driver.upload_append("upload-0001", 7 << 19, _pieces([b"b" * (1 << 21)]))
    # Whole ranges, each starting where the last ended; an append's tail goes as it ends.
    assert started == [
        (0, 1 << 20),
        (1 << 20, 1 << 20),
        (2 << 20, 1 << 20),
        (3 << 20, 1 << 19),
        (7 << 19, 1 << 21),
    ]


async def test_writeback_hint_runs_and_changes_no_byte(tmp_path: Path) -> None:
    # The real sync_file_range (Linux) or nothing (elsewhere): either way the bytes are right.
    data = os.urandom(9 << 20)
    driver = FilesystemDriver(tmp_path)
    await driver.upload_create("upload-0001")
    assert await driver.upload_append("upload-0001", 0, _chunks(data)) == len(data)
    await driver.upload_seal("upload-0001")
    assert (tmp_path / "uploads" / "upload-0001").read_bytes() == data
    if sys.platform.startswith("linux"):
        assert filesystem._sync_file_range() is not None
