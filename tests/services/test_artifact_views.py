"""Service logic behind the /acr/v1 views: the catalog filtered by what the caller may see (and
still paged to full pages), and platforms read from config blobs once per process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, select

from portside.metadata.artifacts import ArtifactStore
from portside.metadata.blobs import BlobStore
from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.repositories import RepositoryStore
from portside.metadata.schema import manifests, repositories
from portside.metadata.tags import TagStore
from portside.oci.digests import Digest
from portside.services.content.listings import ListingService
from portside.services.content.platforms import Platform, PlatformReader
from portside.storage.errors import ObjectNotFound
from portside.storage.layout import blob_key
from portside.storage.memory import MemoryDriver
from tests.registry_client import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, descriptor

pytestmark = pytest.mark.anyio
BLOB = "sha256:" + "1" * 64


async def test_catalog_skips_hidden_names_and_still_fills_pages(db: Database) -> None:
    registry = await RepositoryStore(db).ensure_registry("default")
    names = [f"r{i:04d}" for i in range(1200)]
    for name in names:
        await BlobStore(db).add(registry.id, name, BLOB, 1)
    await _give_each_a_manifest(db, registry.id)  # a repository is listed while it holds one
    await ArtifactStore(db).update_repository(registry.id, "r0007", {"list_enabled": False})
    # Visible: every 97th name, so most batches of the scan hold none or one.
    visible = [n for i, n in enumerate(names) if i % 97 == 0 and n != "r0007"]
    listings = ListingService(RepositoryStore(db), TagStore(db))
    shown = set(visible) | {"r0007"}
    pages: list[list[str]] = []
    last: str | None = None
    while True:
        page, more = await listings.repositories(
            registry.id, last, 4, shown.__contains__, registry_uid=registry.uid
        )
        pages.append(page)
        if not more:
            break
        last = page[-1]
    assert [n for page in pages for n in page] == visible
    assert all(len(page) == 4 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 4
    everything, more = await listings.repositories(
        registry.id, None, None, lambda _: True, registry_uid=registry.uid
    )
    assert len(everything) == len(names) - 1 and not more
    assert await listings.repositories(
        registry.id, None, 5, lambda _: False, registry_uid=registry.uid
    ) == ([], False)


async def _give_each_a_manifest(db: Database, registry_id: int) -> None:
    """One (bare) manifest row in every repository of the registry, in one transaction."""
    async with db.write() as conn:
        ids = (
            await conn.scalars(
                select(repositories.c.id).where(repositories.c.registry_id == registry_id)
            )
        ).all()
        await conn.execute(
            insert(manifests),
            [
                {
                    "repository_id": repo_id,
                    "digest": BLOB,
                    "media_type": OCI_MANIFEST,
                    "size": 2,
                    "body": b"{}",
                    "created_at": utcnow(),
                }
                for repo_id in ids
            ],
        )


class CountingDriver(MemoryDriver):
    """A memory driver that counts reads and can fail them."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.failing = False

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Count the read, then fail it (when failing) or serve it."""
        self.reads += 1
        if self.failing:
            raise ObjectNotFound(key)
        async for chunk in super().read(key, offset, length):
            yield chunk

    def put(self, data: bytes) -> None:
        """Store `data` at its blob key."""
        self._objects[blob_key(Digest.of(data))] = data


def image(config: bytes, config_type: str = OCI_CONFIG) -> tuple[str, bytes]:
    """(media type, body) of an image manifest with that config."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config_type, config),
        "layers": [],
    }
    return OCI_MANIFEST, json.dumps(doc).encode()


async def test_platforms_come_from_configs_read_once() -> None:
    driver = CountingDriver()
    config = json.dumps({"architecture": "arm64", "os": "linux"}).encode()
    driver.put(config)
    reader = PlatformReader(driver, entries=2)
    details = await reader.describe([image(config), image(config)])
    assert [d.platform for d in details] == [Platform("arm64", "linux")] * 2
    assert details[0].config_media_type == OCI_CONFIG and details[0].references is None
    assert driver.reads == 1
    await reader.describe([image(config)])
    assert driver.reads == 1  # cached


async def test_unreadable_configs_are_unknown_and_retried() -> None:
    driver = CountingDriver()
    config = json.dumps({"architecture": "amd64", "os": "windows"}).encode()
    driver.put(config)
    driver.failing = True
    reader = PlatformReader(driver)
    assert (await reader.describe([image(config)]))[0].platform == Platform()
    driver.failing = False
    assert (await reader.describe([image(config)]))[0].platform == Platform("amd64", "windows")
    assert driver.reads == 2


async def test_other_configs_and_garbage_are_never_a_failure() -> None:
    driver = CountingDriver()
    artifact, garbage = b'{"architecture": "amd64"}', b"not json"
    for data in (artifact, garbage):
        driver.put(data)
    reader = PlatformReader(driver)
    found = await reader.describe(
        [
            image(artifact, "application/vnd.example.thing+json"),
            image(garbage),
            (OCI_MANIFEST, b"{broken"),
        ]
    )
    assert [d.platform for d in found] == [Platform()] * 3
    assert found[0].config_media_type == "application/vnd.example.thing+json"
    assert driver.reads == 1  # the artifact's config is not an image config: never read


async def test_index_references_come_from_the_index() -> None:
    reader = PlatformReader(CountingDriver())
    child = image(b"{}")[1]
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            descriptor(OCI_MANIFEST, child, platform={"architecture": "s390x", "os": "linux"}),
            descriptor(OCI_MANIFEST, child + b" "),
        ],
    }
    (details,) = await reader.describe([(OCI_INDEX, json.dumps(index).encode())])
    assert details.references is not None
    assert [p for _, p in details.references] == [Platform("s390x", "linux"), Platform()]
    assert details.platform == Platform() and details.config_media_type is None
