"""LocatedBlobs: a location's storage with the other locations' behind it (read-through)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from portside.oci.digests import Digest
from portside.storage.errors import ObjectNotFound, StorageError
from portside.storage.filesystem import FilesystemDriver
from portside.storage.layout import blob_key
from portside.storage.located import LocatedBlobs, copy_object, digest_of_key
from portside.storage.memory import MemoryDriver

pytestmark = pytest.mark.anyio


async def _put(driver: FilesystemDriver | MemoryDriver, data: bytes) -> tuple[Digest, str]:
    digest = Digest.parse("sha256:" + hashlib.sha256(data).hexdigest())
    key = blob_key(digest)
    await driver.upload_create("seed0000")
    await driver.upload_append("seed0000", 0, _chunks(data))
    await driver.upload_commit("seed0000", key)
    return digest, key


async def _chunks(data: bytes, size: int = 1 << 16) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


def places_root(driver: FilesystemDriver) -> Path:
    """The driver's root folder."""
    return Path(driver.local_path("x") or "").parent


class Broken(MemoryDriver):
    """A location whose storage does not answer."""

    async def stat(self, key: str) -> int:
        raise OSError("connection refused")


@pytest.fixture
def places(tmp_path: Path) -> tuple[FilesystemDriver, FilesystemDriver, LocatedBlobs]:
    west, east = FilesystemDriver(tmp_path / "west"), FilesystemDriver(tmp_path / "east")
    return west, east, LocatedBlobs("eastus", east, {"westeurope": west})


async def test_a_blob_missing_here_is_read_through_and_kept(
    places: tuple[FilesystemDriver, FilesystemDriver, LocatedBlobs],
) -> None:
    west, east, located = places
    data = bytes(range(256)) * 20_000  # 5 MiB: more than one batch into the local upload
    _, key = await _put(west, data)
    assert located.local_path(key) is None  # no zero-copy answer of a missing file
    assert await located.stat(key) == len(data)
    assert await _read(located.read(key)) == data
    assert await east.stat(key) == len(data)  # copied here on the way
    assert located.local_path(key) == east.local_path(key)
    assert await _read(located.read(key)) == data


async def test_a_range_is_forwarded_without_a_copy(
    places: tuple[FilesystemDriver, FilesystemDriver, LocatedBlobs],
) -> None:
    west, east, located = places
    _, key = await _put(west, b"0123456789")
    assert await _read(located.read(key, 2, 3)) == b"234"
    with pytest.raises(ObjectNotFound):
        await east.stat(key)


async def test_bytes_that_do_not_match_their_digest_are_not_kept(
    places: tuple[FilesystemDriver, FilesystemDriver, LocatedBlobs],
) -> None:
    west, east, located = places
    await _put(west, b"good bytes")
    wrong = blob_key(Digest.parse("sha256:" + hashlib.sha256(b"other").hexdigest()))
    await west.upload_create("seed0001")
    await west.upload_append("seed0001", 0, _chunks(b"good bytes"))
    await west.upload_commit("seed0001", wrong)
    assert await _read(located.read(wrong)) == b"good bytes"  # the client checks digests
    with pytest.raises(ObjectNotFound):
        await east.stat(wrong)
    digest = digest_of_key(wrong)
    assert digest is not None
    with pytest.raises(StorageError):
        await copy_object(west, east, digest, wrong)


async def test_a_reader_that_stops_early_leaves_nothing_behind(
    places: tuple[FilesystemDriver, FilesystemDriver, LocatedBlobs],
) -> None:
    west, east, located = places
    _, key = await _put(west, b"x" * (3 << 20))
    stream = located.read(key)
    await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    with pytest.raises(ObjectNotFound):
        await east.stat(key)
    uploads = places_root(east) / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


async def test_missing_everywhere_is_not_found_and_other_keys_stay_local(
    places: tuple[FilesystemDriver, FilesystemDriver, LocatedBlobs],
) -> None:
    west, _, located = places
    digest = Digest.parse("sha256:" + "0" * 64)
    with pytest.raises(ObjectNotFound):
        await located.stat(blob_key(digest))
    with pytest.raises(ObjectNotFound):
        await _read(located.read(blob_key(digest)))
    await west.upload_create("seed0002")
    await west.upload_commit("seed0002", "health/probe")
    with pytest.raises(ObjectNotFound):  # only blobs are looked for elsewhere
        await located.stat("health/probe")


async def test_delete_reaches_every_location(
    places: tuple[FilesystemDriver, FilesystemDriver, LocatedBlobs],
) -> None:
    west, east, located = places
    _, key = await _put(west, b"to be collected")
    await _read(located.read(key))
    await located.delete(key)
    for driver in (west, east):
        with pytest.raises(ObjectNotFound):
            await driver.stat(key)


async def test_delete_many_reaches_every_location_past_a_failing_one(tmp_path: Path) -> None:
    west, east = FilesystemDriver(tmp_path / "west"), FilesystemDriver(tmp_path / "east")

    class Refusing(MemoryDriver):
        async def delete_many(self, keys: Sequence[str]) -> None:
            raise OSError("connection refused")

    located = LocatedBlobs("eastus", east, {"down": Refusing(), "westeurope": west})
    keys = [(await _put(west, data))[1] for data in (b"one", b"two")]
    for key in keys:
        await _read(located.read(key))  # a copy in eastus too
    with pytest.raises(OSError, match="refused"):
        await located.delete_many(keys)
    # The failing location did not stop the others.
    for driver in (west, east):
        for key in keys:
            with pytest.raises(ObjectNotFound):
                await driver.stat(key)
    assert not located.usable("down")


async def test_a_failing_location_is_skipped_as_a_source(tmp_path: Path) -> None:
    west = MemoryDriver()
    _, key = await _put(west, b"replicated")
    located = LocatedBlobs(
        "eastus", FilesystemDriver(tmp_path / "east"), {"down": Broken(), "westeurope": west}
    )
    assert await _read(located.read(key)) == b"replicated"
    assert not located.usable("down")
    assert located.usable("westeurope")
    assert located.locations() == ["eastus", "down", "westeurope"]
