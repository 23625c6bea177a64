"""The storage driver contract of portside.storage.base, checked against every driver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest

from portside.storage.azure import AzureBlobDriver
from portside.storage.base import StorageDriver
from portside.storage.errors import ObjectNotFound, UploadNotFound, UploadOffsetMismatch
from portside.storage.s3 import S3Driver

pytestmark = pytest.mark.anyio


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    """An async stream of the given parts."""
    for part in parts:
        yield part


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    """All bytes of a stream."""
    return b"".join([c async for c in stream])


async def store(
    driver: StorageDriver, key: str, data: bytes, upload_id: str = "upload-0001"
) -> None:
    """Put `data` at `key` through an upload, the only way objects come to exist."""
    await driver.upload_create(upload_id)
    await driver.upload_append(upload_id, 0, chunks(data))
    await driver.upload_commit(upload_id, key)


async def test_upload_appends_in_order_and_commits(driver: StorageDriver) -> None:
    await driver.upload_create("upload-0001")
    assert await driver.upload_size("upload-0001") == 0
    assert await driver.upload_append("upload-0001", 0, chunks(b"hello ", b"wor")) == 9
    assert await driver.upload_append("upload-0001", 9, chunks(b"ld")) == 11
    assert await collect(driver.upload_read("upload-0001")) == b"hello world"
    await driver.upload_commit("upload-0001", "blobs/sha256/ab/abc")
    assert await driver.stat("blobs/sha256/ab/abc") == 11
    assert await collect(driver.read("blobs/sha256/ab/abc")) == b"hello world"
    with pytest.raises(UploadNotFound):
        await driver.upload_size("upload-0001")


async def test_append_at_wrong_offset_appends_nothing(driver: StorageDriver) -> None:
    await driver.upload_create("upload-0001")
    await driver.upload_append("upload-0001", 0, chunks(b"abc"))
    with pytest.raises(UploadOffsetMismatch) as caught:
        await driver.upload_append("upload-0001", 1, chunks(b"zzz"))
    assert caught.value.expected == 3
    assert await collect(driver.upload_read("upload-0001")) == b"abc"


async def test_large_append_spanning_many_io_blocks(driver: StorageDriver) -> None:
    block = bytes(range(256)) * 4096  # 1 MiB
    await driver.upload_create("upload-0001")
    size = await driver.upload_append("upload-0001", 0, chunks(*([block] * 3), b"tail"))
    assert size == 3 * len(block) + 4
    await driver.upload_commit("upload-0001", "k")
    assert await collect(driver.read("k")) == block * 3 + b"tail"


async def test_ranged_reads(driver: StorageDriver) -> None:
    await store(driver, "k", b"0123456789")
    assert await collect(driver.read("k", 2, 3)) == b"234"
    assert await collect(driver.read("k", 7)) == b"789"
    assert await collect(driver.read("k", 0, 0)) == b""


async def test_missing_object_raises_object_not_found(driver: StorageDriver) -> None:
    with pytest.raises(ObjectNotFound):
        await driver.stat("nothing/here")
    with pytest.raises(ObjectNotFound):
        await collect(driver.read("nothing/here"))


async def test_missing_upload_raises_upload_not_found(driver: StorageDriver) -> None:
    with pytest.raises(UploadNotFound):
        await driver.upload_size("no-such-upload")
    with pytest.raises(UploadNotFound):
        await driver.upload_append("no-such-upload", 0, chunks(b"x"))
    with pytest.raises(UploadNotFound):
        await collect(driver.upload_read("no-such-upload"))
    with pytest.raises(UploadNotFound):
        await driver.upload_commit("no-such-upload", "k")


async def test_sealed_upload_stays_an_upload_until_committed(driver: StorageDriver) -> None:
    await driver.upload_create("upload-0001")
    await driver.upload_append("upload-0001", 0, chunks(b"sealed"))
    await driver.upload_seal("upload-0001")
    # Sealing changes nothing visible: the upload still grows, and nothing is at the key.
    assert await driver.upload_append("upload-0001", 6, chunks(b"!")) == 7
    with pytest.raises(ObjectNotFound):
        await driver.stat("blobs/sealed")
    await driver.upload_seal("upload-0001")
    await driver.upload_commit("upload-0001", "blobs/sealed")
    assert await collect(driver.read("blobs/sealed")) == b"sealed!"
    with pytest.raises(UploadNotFound):
        await driver.upload_commit("upload-0001", "blobs/sealed")


async def test_commit_onto_existing_key_keeps_the_first_object(driver: StorageDriver) -> None:
    await store(driver, "k", b"first", "upload-0001")
    await store(driver, "k", b"first", "upload-0002")
    assert await collect(driver.read("k")) == b"first"
    with pytest.raises(UploadNotFound):
        await driver.upload_size("upload-0002")


async def test_delete_many_removes_every_key_and_ignores_missing_ones(
    driver: StorageDriver,
) -> None:
    for number, key in enumerate(["a/1", "a/2", "b/3"]):
        await store(driver, key, key.encode(), f"upload-000{number}")
    await driver.delete_many(["a/1", "never-stored", "b/3"])
    for key in ("a/1", "b/3"):
        with pytest.raises(ObjectNotFound):
            await driver.stat(key)
    assert await collect(driver.read("a/2")) == b"a/2"
    await driver.delete_many(["a/1", "b/3"])
    await driver.delete_many([])
    assert await collect(driver.read("a/2")) == b"a/2"


async def test_delete_is_idempotent(driver: StorageDriver) -> None:
    await store(driver, "k", b"data")
    await driver.delete("k")
    await driver.delete("k")
    with pytest.raises(ObjectNotFound):
        await driver.stat("k")
    await driver.upload_create("upload-0001")
    await driver.upload_delete("upload-0001")
    await driver.upload_delete("upload-0001")
    with pytest.raises(UploadNotFound):
        await driver.upload_size("upload-0001")


async def test_failed_stream_keeps_a_prefix(driver: StorageDriver) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"kept"
        raise ConnectionError("client went away")

    await driver.upload_create("upload-0001")
    with pytest.raises(ConnectionError):
        await driver.upload_append("upload-0001", 0, broken())
    size = await driver.upload_size("upload-0001")
    assert b"kept".startswith(await collect(driver.upload_read("upload-0001")))
    assert size <= 4


async def test_broken_or_cancelled_sender_keeps_what_arrived(driver: StorageDriver) -> None:
    data = bytes(range(256)) * (7 * 4096)  # 7 MiB: more than one part, block or I/O chunk

    async def then_broken() -> AsyncIterator[bytes]:
        yield data
        raise ConnectionError("client went away")

    await driver.upload_create("upload-0001")
    with pytest.raises(ConnectionError):
        await driver.upload_append("upload-0001", 0, then_broken())
    assert await driver.upload_size("upload-0001") == len(data)

    stalled = anyio.Event()

    async def then_stalled() -> AsyncIterator[bytes]:
        yield data
        stalled.set()  # the driver has taken `data` and waits for more
        await anyio.sleep_forever()
        yield b"never"  # pragma: no cover

    async with anyio.create_task_group() as tasks:  # the request is cancelled mid-stream
        tasks.start_soon(driver.upload_append, "upload-0001", len(data), then_stalled())
        await stalled.wait()
        tasks.cancel_scope.cancel()
    assert await driver.upload_size("upload-0001") == 2 * len(data)
    assert await collect(driver.upload_read("upload-0001")) == data + data


async def test_presigned_urls_serve_the_object_and_nothing_else(driver: StorageDriver) -> None:
    await store(driver, "blobs/signed", b"signed bytes")
    url = await driver.presigned_get("blobs/signed", 60)
    # Object stores can sign a URL; the filesystem and memory drivers have none to give.
    assert (url is not None) == isinstance(driver, S3Driver | AzureBlobDriver)
    if url is None:
        return
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        assert response.status_code == 200
        assert response.content == b"signed bytes"
        ranged = await client.get(url, headers={"Range": "bytes=7-"})
        assert ranged.content == b"bytes"
        tampered = await client.get(url.replace("blobs/signed", "blobs/other"))
        assert tampered.status_code == 403


async def test_another_node_resumes_and_commits(nodes: Callable[[], StorageDriver]) -> None:
    first, second = nodes(), nodes()
    await first.upload_create("upload-0001")
    head = bytes(range(256)) * (5 * 4096 + 1)  # 5 MiB and a bit
    await first.upload_append("upload-0001", 0, chunks(head))
    assert await second.upload_size("upload-0001") == len(head)
    with pytest.raises(UploadOffsetMismatch):
        await second.upload_append("upload-0001", 1, chunks(b"x"))
    tail = bytes(range(255, -1, -1)) * (2 * 4096)
    assert await second.upload_append("upload-0001", len(head), chunks(tail)) == len(head + tail)
    assert await collect(first.upload_read("upload-0001")) == head + tail
    await second.upload_commit("upload-0001", "blobs/k")
    assert await collect(first.read("blobs/k")) == head + tail
    with pytest.raises(UploadNotFound):
        await first.upload_size("upload-0001")
