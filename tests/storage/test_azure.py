"""Azure-specific behaviour on Azurite: block sizing, resuming on another node, commits of blobs
of many blocks (staged from URL, or copied where Azurite lacks that), SAS URLs, key-based options,
errors, and memory that stays bounded by the block size."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from azure.storage.blob import BlobProperties
from azure.storage.blob.aio import BlobClient, BlobServiceClient

from portside.storage.azure import AzureBlobDriver, AzureOptions
from portside.storage.errors import (
    ObjectNotFound,
    StorageError,
    UploadNotFound,
    UploadOffsetMismatch,
)
from portside.storage.parts import MiB
from tests.backends.azurite import ACCOUNT, ACCOUNT_KEY, Azurite
from tests.storage.conftest import azure_options
from tests.storage.test_driver_contract import chunks, collect

pytestmark = pytest.mark.anyio

BLOCK = 1 * MiB  # small blocks, so that tests cross block boundaries with little data


@pytest.fixture
async def options(azurite: Azurite) -> AzureOptions:
    """Options with 1 MiB blocks in a fresh container."""
    return await azure_options(azurite, block_size=BLOCK)


@pytest.fixture
async def azure(options: AzureOptions) -> AsyncIterator[AzureBlobDriver]:
    """A driver with 1 MiB blocks."""
    driver = AzureBlobDriver(options)
    yield driver
    await driver.close()


async def committed_blocks(server: Azurite, options: AzureOptions, name: str) -> list[int]:
    """The sizes of the committed blocks of blob `name`."""
    async with BlobServiceClient.from_connection_string(server.connection_string) as service:
        blob = service.get_blob_client(options.container, name)
        committed, _ = await blob.get_block_list("committed")
        return [block.size for block in committed]


async def blob_names(server: Azurite, options: AzureOptions) -> list[str]:
    """Every blob name in the driver's container."""
    async with BlobServiceClient.from_connection_string(server.connection_string) as service:
        container = service.get_container_client(options.container)
        return [name async for name in container.list_blob_names()]


def pattern(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes of `size`."""
    block = hashlib.sha256(str(seed).encode()).digest() * (MiB // 32)
    return (block * (size // MiB + 1))[:size]


async def test_blocks_are_full_size_except_the_last(
    azure: AzureBlobDriver, options: AzureOptions, azurite: Azurite
) -> None:
    half = BLOCK // 2
    await azure.upload_create("upload-0001")
    first = pattern(2 * BLOCK + half, 1)
    assert await azure.upload_append("upload-0001", 0, chunks(first)) == len(first)
    sizes = await committed_blocks(azurite, options, "uploads/upload-0001")
    assert sizes == [BLOCK, BLOCK, half]
    second = pattern(half + 10, 2)
    await azure.upload_append("upload-0001", len(first), chunks(second))
    sizes = await committed_blocks(azurite, options, "uploads/upload-0001")
    assert sizes == [BLOCK, BLOCK, BLOCK, 10]
    assert await collect(azure.upload_read("upload-0001")) == first + second
    await azure.upload_commit("upload-0001", "blobs/k")
    assert await collect(azure.read("blobs/k")) == first + second
    assert await blob_names(azurite, options) == ["blobs/k"]


async def test_large_upload_crosses_many_blocks(azure: AzureBlobDriver) -> None:
    data = pattern(9 * BLOCK + 333, 3)
    await azure.upload_create("upload-0001")
    pieces = [data[i : i + 300_000] for i in range(0, len(data), 300_000)]
    assert await azure.upload_append("upload-0001", 0, chunks(*pieces)) == len(data)
    await azure.upload_commit("upload-0001", "blobs/big")
    assert await azure.stat("blobs/big") == len(data)
    assert await collect(azure.read("blobs/big")) == data
    assert await collect(azure.read("blobs/big", BLOCK - 5, 10)) == data[BLOCK - 5 : BLOCK + 5]
    assert await collect(azure.read("blobs/big", len(data) + 5)) == b""
    assert await collect(azure.read("blobs/big", 0, 3)) == data[:3]


async def test_concurrent_appends_one_wins(options: AzureOptions) -> None:
    first, second = AzureBlobDriver(options), AzureBlobDriver(options)
    await first.upload_create("upload-0001")
    release, loaded = anyio.Event(), anyio.Event()
    outcome: list[BaseException] = []

    async def slow() -> AsyncIterator[bytes]:
        loaded.set()
        await release.wait()
        yield b"slow"

    async def append_slowly() -> None:
        try:
            await first.upload_append("upload-0001", 0, slow())
        except UploadOffsetMismatch as exc:
            outcome.append(exc)

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(append_slowly)
            await loaded.wait()
            assert await second.upload_append("upload-0001", 0, chunks(b"fast")) == 4
            release.set()
        assert len(outcome) == 1
        assert await collect(first.upload_read("upload-0001")) == b"fast"
    finally:
        await first.close()
        await second.close()


async def test_concurrent_commits_of_the_same_content(options: AzureOptions) -> None:
    data = pattern(3 * BLOCK, 6)
    drivers = [AzureBlobDriver(options), AzureBlobDriver(options)]
    try:
        for number, driver in enumerate(drivers):
            await driver.upload_create(f"upload-000{number}")
            await driver.upload_append(f"upload-000{number}", 0, chunks(data))
        async with anyio.create_task_group() as tasks:
            for number, driver in enumerate(drivers):
                tasks.start_soon(driver.upload_commit, f"upload-000{number}", "blobs/same")
        assert await collect(drivers[0].read("blobs/same")) == data
    finally:
        for driver in drivers:
            await driver.close()


async def test_presigned_url_specifics(azure: AzureBlobDriver) -> None:
    await azure.upload_create("upload-0001")
    await azure.upload_append("upload-0001", 0, chunks(b"signed bytes"))
    await azure.upload_commit("upload-0001", "blobs/signed")
    url = await azure.presigned_get("blobs/signed", 60)
    assert url is not None
    async with httpx.AsyncClient() as client:
        unsigned = await client.get(url.split("?")[0])
        assert unsigned.status_code in (403, 404)
    with pytest.raises(ValueError):
        await azure.presigned_get("blobs/signed", 0)


async def test_account_key_options_and_prefix(azurite: Azurite) -> None:
    base = await azure_options(azurite)
    options = AzureOptions(
        container=base.container,
        account_name=ACCOUNT,
        account_key=ACCOUNT_KEY,
        endpoint=azurite.endpoint,
        prefix="/portside/",
    )
    driver = AzureBlobDriver(options)
    try:
        await driver.upload_create("upload-0001")
        await driver.upload_append("upload-0001", 0, chunks(b"keyed"))
        await driver.upload_commit("upload-0001", "blobs/keyed")
        assert await blob_names(azurite, options) == ["portside/blobs/keyed"]
        assert await collect(driver.read("blobs/keyed")) == b"keyed"
    finally:
        await driver.close()
    with pytest.raises(ValueError):
        AzureOptions(container="c")


async def test_append_memory_stays_bounded_by_the_block_size(azurite: Azurite) -> None:
    block = 4 * MiB
    driver = AzureBlobDriver(await azure_options(azurite, block_size=block))

    async def generated() -> AsyncIterator[bytes]:
        for _ in range(24):
            yield os.urandom(MiB)

    try:
        await driver.upload_create("upload-0001")
        tracemalloc.start()
        try:
            assert await driver.upload_append("upload-0001", 0, generated()) == 24 * MiB
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        await driver.close()
    assert peak < 2 * block, f"peak {peak / MiB:.1f} MiB for 4 MiB blocks"


async def test_missing_keys(azure: AzureBlobDriver) -> None:
    with pytest.raises(ObjectNotFound):
        await collect(azure.read("blobs/none", 0, 0))
    with pytest.raises(ObjectNotFound):
        await collect(azure.read("blobs/none", 5))
    await azure.delete("blobs/none")
    await azure.upload_delete("never-created")
    assert azure.local_path("blobs/none") is None


async def test_too_many_blocks_fails_and_keeps_the_old_size(
    azure: AzureBlobDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("portside.storage.azure.MAX_BLOCKS", 2)
    await azure.upload_create("upload-0001")
    with pytest.raises(StorageError, match="blocks"):
        await azure.upload_append("upload-0001", 0, chunks(pattern(2 * BLOCK + 1, 8)))
    assert await azure.upload_size("upload-0001") == 0


async def destination_properties(
    server: Azurite, options: AzureOptions, name: str
) -> BlobProperties:
    """The properties of blob `name`, read with a client of its own."""
    async with BlobServiceClient.from_connection_string(server.connection_string) as service:
        return await service.get_blob_client(options.container, name).get_blob_properties()


async def upload_of(driver: AzureBlobDriver, upload_id: str, data: bytes) -> None:
    """Create upload `upload_id` holding `data`, sent in 1 MiB chunks."""
    await driver.upload_create(upload_id)
    pieces = [data[i : i + MiB] for i in range(0, len(data), MiB)]
    assert await driver.upload_append(upload_id, 0, chunks(*pieces)) == len(data)


@pytest.fixture
def put_block_from_url(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Give Azurite's clients Put Block From URL: the range is fetched with the SAS URL the
    driver signed, then staged under the driver's block id. Returns the calls in flight, peak."""
    flight = [0, 0]  # now, peak

    async def stage_block_from_url(
        self: BlobClient, block_id: str, source_url: str, offset: int, length: int
    ) -> dict[str, object]:
        flight[0] += 1
        flight[1] = max(flight)
        try:
            async with httpx.AsyncClient() as client:
                wanted = {"Range": f"bytes={offset}-{offset + length - 1}"}
                response = await client.get(source_url, headers=wanted)
            assert response.status_code == 206, response.text
            body = io.BytesIO(response.content)  # raw bytes this large make aiohttp warn
            return await self.stage_block(block_id, body, length=length)
        finally:
            flight[0] -= 1

    monkeypatch.setattr(BlobClient, "stage_block_from_url", stage_block_from_url)
    return flight


async def test_commit_stages_many_blocks_from_url_then_commits_them(
    azurite: Azurite, put_block_from_url: list[int]
) -> None:
    block = 4 * MiB
    options = await azure_options(azurite, block_size=block, commit_concurrency=4)
    driver = AzureBlobDriver(options)
    data = pattern(10 * block - 5, 10)  # nine full blocks and a short one
    try:
        await upload_of(driver, "upload-0001", data)
        await driver.upload_commit("upload-0001", "blobs/staged")
        assert await driver.stat("blobs/staged") == len(data)
        back = await collect(driver.read("blobs/staged"))
        assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
        # Assembled from staged blocks (not copied), a few at a time, and the upload is gone.
        assert await committed_blocks(azurite, options, "blobs/staged") == [block] * 9 + [block - 5]
        assert (await destination_properties(azurite, options, "blobs/staged")).copy.status is None
        assert 1 < put_block_from_url[1] <= 4
        assert await blob_names(azurite, options) == ["blobs/staged"]
        # An existing blob is kept and the upload discarded.
        await upload_of(driver, "upload-0002", b"other bytes")
        await driver.upload_commit("upload-0002", "blobs/staged")
        assert await driver.stat("blobs/staged") == len(data)
        with pytest.raises(UploadNotFound):
            await driver.upload_size("upload-0002")
    finally:
        await driver.close()


async def test_concurrent_staged_commits_of_the_same_content(
    options: AzureOptions, put_block_from_url: list[int]
) -> None:
    data = pattern(3 * BLOCK + 7, 11)
    drivers = [AzureBlobDriver(options) for _ in range(3)]
    try:
        for number, driver in enumerate(drivers):
            await upload_of(driver, f"upload-000{number}", data)
        async with anyio.create_task_group() as tasks:
            for number, driver in enumerate(drivers):
                tasks.start_soon(driver.upload_commit, f"upload-000{number}", "blobs/same")
        assert await collect(drivers[0].read("blobs/same")) == data
    finally:
        for driver in drivers:
            await driver.close()


async def test_commit_on_azurite_copies_from_the_unsigned_url(
    azurite: Azurite, options: AzureOptions
) -> None:
    # Azurite answers Put Block From URL with 501, so the driver falls back to Copy Blob. With a
    # SAS on the source, Azurite fetched the whole blob into one string and failed past 512 MiB.
    options = await azure_options(azurite, block_size=4 * MiB)
    driver = AzureBlobDriver(options)
    data = pattern(40 * MiB, 12)
    try:
        for number in range(2):  # the second commit goes straight to Copy Blob
            await upload_of(driver, f"upload-000{number}", data)
            await driver.upload_commit(f"upload-000{number}", f"blobs/copied{number}")
            back = await collect(driver.read(f"blobs/copied{number}"))
            assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
            copied = await destination_properties(azurite, options, f"blobs/copied{number}")
            assert copied.copy.status == "success"
            assert copied.copy.source is not None and "sig=" not in copied.copy.source
        assert await blob_names(azurite, options) == ["blobs/copied0", "blobs/copied1"]
    finally:
        await driver.close()


async def test_azure_errors_become_storage_errors(azurite: Azurite) -> None:
    options = AzureOptions(
        container="no-such-container", connection_string=azurite.connection_string
    )
    driver = AzureBlobDriver(options)
    try:
        with pytest.raises(StorageError, match=r"create of upload upload-0001.*ContainerNotFound"):
            await driver.upload_create("upload-0001")
    finally:
        await driver.close()
    with pytest.raises(ValueError):
        AzureOptions(container="c", connection_string="x", commit_concurrency=0)
